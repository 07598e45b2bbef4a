"""One table per vendor. Each says where the model is read, the part-number forms its
supply descriptions carry and any description words of its own; `notes` says which
recorded walks (tests/test_vendors.py) the entries were checked against.
"""

from __future__ import annotations

from asr_core.records import SupplyType
from asr_agent.domain.vendors.table import PartColor, VendorTable, parts, rule, rx, words

_KCMY = {"K": "black", "C": "cyan", "M": "magenta", "Y": "yellow"}
# "Xerox AltaLink C8135; SS 103.001…", "FUJI XEROX DocuPrint CM305 df", "FUJIFILM Apeos C7580".
_XEROX_FAMILY_MODELS = (
    rule("sys_descr", r"^Xerox(?:\(R\))?\s+(?P<model>[^;]+)"),
    rule("sys_descr", r"^FUJI\s*XEROX\s+(?P<model>[^;]+?)(?:;|$)"),
    rule("sys_descr", r"^FUJIFILM\s+(?P<model>[^;]+)"),
    rule("hr_device_descr", r"^(?:Xerox|FUJI\s*XEROX|FUJIFILM)\s+(?P<model>[^;]+)"),
)
_XEROX_TRIM = rx(r"\s+(?:ESS|System|SS)\b.*$")

XEROX = VendorTable(
    name="xerox", enterprises=("253",), descr=rx(r"^Xerox\b"), models=_XEROX_FAMILY_MODELS,
    model_trim=_XEROX_TRIM, asr_compatible=True,
    notes="xerox_altalink_c8045; descriptions carry `PN …;SN…` (read by the parser for every vendor)")
FUJI_XEROX = VendorTable(
    name="fujixerox", enterprises=("297",), descr=rx(r"^FUJI\s*XEROX\b"), models=_XEROX_FAMILY_MODELS,
    model_trim=_XEROX_TRIM, asr_compatible=True)
# Fuji Xerox became FUJIFILM Business Innovation in 2021 (sysObjectID 297.1.11.93.2…).
FUJIFILM = VendorTable(
    name="fujifilm", object_id_prefixes=("1.3.6.1.4.1.297.1.11.93.2.",), descr=rx(r"^FUJIFILM\b"),
    models=_XEROX_FAMILY_MODELS, model_trim=_XEROX_TRIM, asr_compatible=True,
    notes="fujifilm_apeos_c7580")

HP = VendorTable(
    name="hp", enterprises=("11",), descr=rx(r"^(?:HP|Hewlett[- ]Packard)\b"),
    # sysDescr is the JetDirect card's ("HP ETHERNET MULTI-ENVIRONMENT,…"); the printer is hrDeviceDescr.
    models=(rule("hr_device_descr", r"^(?:HP|Hewlett[- ]Packard)\s+(?P<model>.+)"),
            rule("printer_name", r"^(?:HP\s+)?(?P<model>.+)"),
            rule("sys_descr", r"\bPID:(?:HP\s+)?(?P<model>[^,;]+)")),
    # CF259A, W1480A, CF400X, CE285A, Q2612A: one or two letters, 3-4 digits, a yield letter.
    part_numbers=parts(r"\b(?P<pn>[A-Z]{1,2}\d{3,4}[AXYZ])\b"),
    notes="hp_jetdirect, hp_laserjet_m130nw, hp_laserjet_m252dw, hp_laserjet_m880")

BROTHER = VendorTable(
    name="brother", enterprises=("2435",), descr=rx(r"^Brother\b"),
    # sysDescr is the print server's ("Brother NC-8300h, Firmware …").
    models=(rule("hr_device_descr", r"^Brother\s+(?P<model>.+?)(?:\s+series)?$"),
            rule("printer_name", r"^(?:Brother\s+)?(?P<model>.+?)(?:\s+series)?$")),
    # TN-2420 toner, DR-2400 drum, LC3219 ink, BU-223CL belt, WT-223CL waste toner.
    part_numbers=parts(r"\b(?P<pn>(?:TN|DR|LC|BU|WT)-?\d{3,4}[A-Z]{0,4})\b"),
    words=words((r"^DR-?\d", SupplyType.OPC), (r"^TN-?\d", SupplyType.TONER_CARTRIDGE),
                (r"^WT-?\d", SupplyType.WASTE_TONER), (r"^BU-?\d", SupplyType.TRANSFER_UNIT)),
    notes="brother_hl5370dw, brother_nc8300h")

CANON = VendorTable(
    name="canon", enterprises=("1602",), descr=rx(r"^Canon\b"),
    models=(rule("hr_device_descr", r"^Canon\s+(?P<model>.+)"),
            rule("sys_descr", r"^Canon\s+(?P<model>[^/;]+?)(?:\s*/.*)?$")),
    # "Canon Cartridge 719/719H", C-EXV 33, CRG-057H, GPR-38.
    part_numbers=parts(r"\b(?P<pn>C-EXV\s?\d{1,3}[A-Z]?|(?:CRG|GPR)-\d{2,3}[A-Z]?)",
                       r"\bCartridge\s(?P<pn>\d{3}[A-Z]?)\b"),
    notes="canon_lbp6670")

EPSON = VendorTable(
    name="epson", enterprises=("1248",), descr=rx(r"^EPSON\b"),
    # sysDescr is often only "EPSON Built-in".
    models=(rule("hr_device_descr", r"^EPSON\s+(?P<model>.+)"),
            rule("printer_name", r"^(?:EPSON\s+)?(?P<model>.+)")),
    # SJIC35P-BK (ColorWorks), T9441 (WorkForce; "T9441/T9451/T9461" gives the first).
    part_numbers=parts(r"\b(?P<pn>SJIC\d{1,3}P?(?:-(?:BK|MK|K|C|M|Y))?)(?![\w-])",
                       r"\b(?P<pn>T\d{4,5}[A-Z0-9]{0,2})\b"),
    part_color=PartColor(rx(r"^SJIC\d+P?-(?P<code>BK|MK|K|C|M|Y)$"),
                         {"BK": "black", "MK": "matte black", **_KCMY}),
    words=words((r"^SJIC\d", SupplyType.INK_CARTRIDGE),),  # a ColorWorks cartridge named by its part number
    notes="epson_builtin_inkjet")

KYOCERA = VendorTable(
    name="kyocera", enterprises=("1347",),
    descr=rx(r"^(?:KYOCERA|TA_UTAX|UTAX|Triumph-Adler|TA\s+Triumph)\b"),
    # hrDeviceDescr is the bare model ("P-4532DN", "ECOSYS M2540dn"); UTAX/TA rebadge Kyocera.
    models=(rule("hr_device_descr", r"^(?:KYOCERA\s+|UTAX\s+|TA\s+)?(?P<model>.+)"),
            rule("printer_name", r"^(?:KYOCERA\s+|UTAX\s+|TA\s+)?(?P<model>.+)")),
    # TK-8527C toner kit (C = cyan), PK-3010 (UTAX toner), DK-170 drum, WT-8500 waste box.
    part_numbers=parts(r"\b(?P<pn>(?:TK|PK|CK|DK|MK|WT)-\d{3,5}[A-Z]{0,2})\b"),
    part_color=PartColor(rx(r"^(?:TK|PK|CK)-\d{3,5}(?P<code>[KCMY])S?$"), _KCMY),
    # Kyocera often describes a supply by its part number alone.
    words=words((r"^(?:TK|PK|CK)-\d", SupplyType.TONER), (r"^DK-\d", SupplyType.OPC),
                (r"^WT-\d", SupplyType.WASTE_TONER)),
    notes="utax_kyocera_oem")

KONICA_MINOLTA = VendorTable(
    name="konica_minolta", enterprises=("18334",), descr=rx(r"^KONICA\s*MINOLTA\b"),
    # hrDeviceDescr can be the engine's ("Generic 28C-1"): sysDescr first.
    models=(rule("sys_descr", r"^KONICA\s*MINOLTA\s+(?P<model>.+)"),
            rule("hr_device_descr", r"^KONICA\s*MINOLTA\s+(?P<model>.+)")),
    # TN324C toner, DR313 drum, DV313 developer, IU214 imaging unit, WX-103 waste.
    part_numbers=parts(r"\b(?P<pn>(?:TN|DR|DV|IU|WX)-?\d{3,4}[A-Z]?)\b"),
    notes="konica_bizhub_c3110, konica_bizhub_25e")

_LEXMARK_PARTS = parts(
    # 50F2H00, 56F2000, 58D0Z00, 24B6186; C242XK0, B221H00, C540H1KG.
    r"\b(?P<pn>\d{2}[A-Z]\d[A-Z0-9]{3})\b", r"\b(?P<pn>[A-Z]\d{3}[A-Z][A-Z0-9]{2,3})\b")
# The photoconductor is an "Imaging Kit" (or "Imaging Unit") on Lexmark engines.
_LEXMARK_WORDS = words((r"\bimaging\s*(?:kit|unit)\b", SupplyType.OPC),
                       (r"\bmaintenance\s*kit\b", SupplyType.OTHER))

LEXMARK = VendorTable(
    name="lexmark", enterprises=("641",), descr=rx(r"^Lexmark\b"),
    # "Lexmark MS810 version …"; hrDeviceDescr adds the serial and firmware after the model.
    models=(rule("sys_descr", r"^Lexmark\s+(?P<model>\S+)"),
            rule("hr_device_descr", r"^Lexmark\s+(?P<model>\S+)")),
    part_numbers=_LEXMARK_PARTS, words=_LEXMARK_WORDS)
# Dell's lasers are Lexmark engines ("Dell S5830dn … All-N-1"): the same table under Dell's name.
DELL = VendorTable(
    name="dell", enterprises=("674",), descr=rx(r"^Dell\b"),
    models=(rule("sys_descr", r"^Dell\s+(?P<model>\S+)"),
            rule("hr_device_descr", r"^Dell\s+(?P<model>\S+)")),
    part_numbers=_LEXMARK_PARTS, words=_LEXMARK_WORDS, notes="dell_s5830dn_lexmarkoem")

OKI = VendorTable(
    name="oki", enterprises=("2001",), descr=rx(r"^OKI\b"),
    # sysDescr is the OkiLAN card's: "… PrintServer: Attached to MC873 Rev.07.87 …".
    models=(rule("sys_descr", r"\bAttached to\s+(?P<model>[A-Z]{1,3}\d{3,4}\w*)"),
            rule("hr_device_descr", r"^OKI\s+(?P<model>.+)"),
            rule("printer_name", r"^(?:OKI\s+)?(?P<model>.+)")),
    part_numbers=parts(r"\b(?P<pn>4\d{7})\b"),  # 46490608, 44844508
    notes="oki_okilan9450g")

RICOH = VendorTable(
    name="ricoh", enterprises=("367",), descr=rx(r"^RICOH\b"),
    models=(rule("hr_device_descr", r"^RICOH\s+(?P<model>.+)"),
            rule("sys_descr", r"^RICOH\s+(?P<model>.+?)\s+\d+\.\d+\b")),
    part_numbers=parts(r"\b(?P<pn>[48]\d{5})\b"),  # 842095, 407543
    notes="ricoh_aficio_mpc3002")

SHARP = VendorTable(
    name="sharp", enterprises=("2385",), descr=rx(r"^SHARP\b"),
    models=(rule("hr_device_descr", r"^SHARP\s+(?P<model>.+)"),
            rule("sys_descr", r"^SHARP\s+(?P<model>.+)")),
    part_numbers=parts(r"\b(?P<pn>(?:MX|BP|AR)-\d{2,3}[A-Z]{1,4})\b"),  # MX-36GTCA, MX-607HB
    notes="sharp_mx3570n")

SAMSUNG = VendorTable(
    name="samsung", enterprises=("236",), descr=rx(r"^Samsung\b"),
    # sysDescr "Samsung M4080FX; V11…" names the model; hrDeviceDescr only the series.
    models=(rule("sys_descr", r"^Samsung\s+(?P<model>[^;]+)"),
            rule("hr_device_descr", r"^Samsung\s+(?P<model>.+)")),
    part_numbers=parts(r"\b(?P<pn>(?:CLT|MLT)-[A-Z]{1,2}\d{3,4}[A-Z]?)\b"),  # CLT-K506L, MLT-R116
    notes="samsung_m4080fx")

TABLES: tuple[VendorTable, ...] = (
    XEROX, FUJI_XEROX, FUJIFILM, HP, BROTHER, CANON, EPSON, KYOCERA, KONICA_MINOLTA,
    LEXMARK, DELL, OKI, RICOH, SHARP, SAMSUNG,
)
