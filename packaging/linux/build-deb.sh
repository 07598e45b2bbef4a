#!/usr/bin/env bash
# Builds dist/<package>_<version>_<arch>.deb, for the agent (asr-agent, the default) or
# central (asr-central): the program in a self-contained virtual environment under
# /opt/<package>/<version>, a `current` symlink the systemd unit starts, config in
# /etc/<package> (a conffile: kept on remove, deleted on purge). Central's venv has the
# `postgres` extra (psycopg and its pool).
#
# usage: packaging/linux/build-deb.sh [--package NAME] [--wheelhouse DIR] [--python PATH] [--out DIR]
#   --package NAME    asr-agent (default) or asr-central.
#   --wheelhouse DIR  build offline: the dependency wheels (and setuptools + wheel for
#                     building ours) come only from DIR (`pip download -d DIR ...`);
#                     without it pip uses its configured index.
#   --python PATH     the interpreter the package runs on (default /usr/bin/python3, the
#                     distribution's: the venv links to it, so the package depends on
#                     exactly that python3.X package).
#   --out DIR         where the .deb goes (default dist/).
#
# How the venv gets to /opt without building as root there: a venv records its absolute
# location only in its scripts' #! lines, activate scripts, pyvenv.cfg and compiled .pyc
# file names. We build it in a staging tree at STAGE/opt/asr-agent/<version>, install with
# --no-compile, rewrite those few places to /opt/asr-agent/<version>, then compile the
# bytecode with the final path (compileall -s/-p), and refuse to package if the staging
# path still appears anywhere. This is dh-virtualenv's approach; the alternative (creating
# the venv in postinst from shipped wheels) would need python3-venv on every target and
# could fail half-way at install time, while this one fails at build time.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The caller's module path must not leak into the build: pip would take a checkout on
# PYTHONPATH (its asr.egg-info) for an installed asr and leave the venv without it.
unset PYTHONPATH PYTHONHOME

wheelhouse=""
python=/usr/bin/python3
out=dist
package=asr-agent
while [ $# -gt 0 ]; do
  case "$1" in
    --package) package=$2; shift 2 ;;
    --wheelhouse) wheelhouse=$(realpath "$2"); shift 2 ;;
    --python) python=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-deb: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$package" in
  asr-agent) requirement="" ;;
  asr-central) requirement="[postgres]" ;;
  *) echo "build-deb: unknown package $package (asr-agent or asr-central)" >&2; exit 2 ;;
esac

for tool in dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is required (apt-get install dpkg)" >&2; exit 1; }
done
"$python" -c 'import ensurepip, venv' 2>/dev/null \
  || { echo "build-deb: $python cannot create virtual environments (apt-get install python3-venv)" >&2; exit 1; }

pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
pyreal=$(realpath "$python")
arch=$(dpkg --print-architecture)
pip_src=()
[ -n "$wheelhouse" ] && pip_src=(--no-index --find-links "$wheelhouse")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "build-deb: building the wheel"
"$python" -m venv "$work/buildenv"
"$work/buildenv/bin/pip" wheel -q --no-deps "${pip_src[@]}" . -w "$work/wheels" 2>"$work/wheel.log" \
  || { cat "$work/wheel.log" >&2; exit 1; }
wheel=$(ls "$work"/wheels/asr-*.whl)
version=$(basename "$wheel" | cut -d- -f2)

stage="$work/root"
prefix="/opt/$package/$version"
venv="$stage$prefix"
echo "build-deb: installing asr $version and its dependencies into $prefix"
"$pyreal" -m venv "$venv"
"$venv/bin/pip" install -q --no-compile "${pip_src[@]}" "$wheel$requirement"
# pip is not needed at run time: the agent's updater creates each new version's venv afresh.
"$venv/bin/python" -m pip uninstall -q -y pip

echo "build-deb: relocating the venv to $prefix"
for f in "$venv"/bin/*; do
  if [ -f "$f" ] && [ ! -L "$f" ] && head -c 2 "$f" | grep -q '#!'; then
    sed -i "1s|^#!$venv/bin/|#!$prefix/bin/|" "$f"
  fi
done
sed -i "s|$venv|$prefix|g" "$venv"/bin/activate* "$venv/pyvenv.cfg"
"$venv/bin/python" -m compileall -q -f -j0 -s "$stage" -p / "$venv/lib" >/dev/null
if grep -rIl --exclude-dir=__pycache__ "$work/root" "$venv" >"$work/leftovers" \
   || grep -rl "$work/root" "$venv" --include='*.pyc' >>"$work/leftovers"; then
  echo "build-deb: the staging path is still recorded in:" >&2; cat "$work/leftovers" >&2; exit 1
fi

echo "build-deb: laying out the package"
if [ "$package" = asr-agent ]; then  # the agent; central after `else`
install -D -m 0644 packaging/linux/asr-agent.service "$stage/usr/lib/systemd/system/asr-agent.service"
install -D -m 0644 packaging/linux/asr-agent.sysusers "$stage/usr/lib/sysusers.d/asr-agent.conf"
install -D -m 0644 packaging/linux/asr-agent.tmpfiles "$stage/usr/lib/tmpfiles.d/asr-agent.conf"
install -D -m 0640 config.example.yaml "$stage/etc/asr-agent/config.yaml"
install -d -m 0755 "$stage/usr/share/doc/asr-agent" "$stage/usr/bin"
ln -s /opt/asr-agent/current/bin/asr-agent "$stage/usr/bin/asr-agent"
cat > "$stage/usr/share/doc/asr-agent/README.Debian" <<EOF
asr-agent $version for Debian

1. Edit /etc/asr-agent/config.yaml (site, SNMP credentials, targets, central URL).
2. asr-agent check-config --config /etc/asr-agent/config.yaml
3. systemctl start asr-agent   (enabled at install; started once configured)

Versions live in /opt/asr-agent/<version>; /opt/asr-agent/current is the one that runs.
Updates through the signed channel are off until update.channel is set.
apt remove keeps /etc/asr-agent and /var/lib/asr-agent; apt purge deletes them.
EOF

mkdir -p "$stage/DEBIAN"
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: asr-agent
Version: $version
Architecture: $arch
Maintainer: ASR maintainers <maintainers@asr.example>
Section: admin
Priority: optional
Installed-Size: $installed_kb
Depends: python$pyver, systemd (>= 247) | systemd-sysusers, adduser
Description: ASR printer supplies agent
 Discovers printers over SNMP, turns supply levels into consumption and pushes
 signed summaries to the ASR replenishment service. Runs as a hardened systemd
 service under its own system user. Python $pyver virtual environment in
 /opt/asr-agent (built against $pyreal).
EOF
echo "/etc/asr-agent/config.yaml" > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  sed "s|@VERSION@|$version|g" "packaging/linux/debian/$script" > "$stage/DEBIAN/$script"
  chmod 0755 "$stage/DEBIAN/$script"
done
else  # asr-central
install -D -m 0644 packaging/linux/asr-central.service "$stage/usr/lib/systemd/system/asr-central.service"
install -D -m 0644 packaging/linux/asr-central.sysusers "$stage/usr/lib/sysusers.d/asr-central.conf"
install -D -m 0644 packaging/linux/asr-central.tmpfiles "$stage/usr/lib/tmpfiles.d/asr-central.conf"
install -D -m 0640 central.example.yaml "$stage/etc/asr-central/config.yaml"
install -d -m 0755 "$stage/usr/share/doc/asr-central" "$stage/usr/bin"
ln -s /opt/asr-central/current/bin/asr-central "$stage/usr/bin/asr-central"
cat > "$stage/usr/share/doc/asr-central/README.Debian" <<EOF
asr-central $version for Debian

1. Edit /etc/asr-central/config.yaml: the database (SQLite in /var/lib/asr-central by
 default; postgresql://... with database.password as env: or file:), the admin token
 (file:/etc/asr-central/admin-token, a file readable by group asr-central), the bind
 address and TLS.
2. asr-central check-config --config /etc/asr-central/config.yaml
3. systemctl start asr-central   (enabled at install; started once configured)
4. curl http://127.0.0.1:8800/readyz

Moving from SQLite to PostgreSQL: stop the service, then
asr-central db copy sqlite:////var/lib/asr-central/asr-central.db postgresql://asr@db/asr
and point database.url at PostgreSQL.
apt remove keeps /etc/asr-central and /var/lib/asr-central; apt purge deletes them.
EOF

mkdir -p "$stage/DEBIAN"
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: asr-central
Version: $version
Architecture: $arch
Maintainer: ASR maintainers <maintainers@asr.example>
Section: admin
Priority: optional
Installed-Size: $installed_kb
Depends: python$pyver, systemd (>= 247) | systemd-sysusers, adduser
Suggests: postgresql
Description: ASR central replenishment service
 Verifies the agents' signed summaries, forecasts every supply, places
 consolidated replenishment orders and raises alerts. Runs as a hardened
 systemd service under its own system user, on SQLite or PostgreSQL. Python
 $pyver virtual environment in /opt/asr-central (built against $pyreal).
EOF
echo "/etc/asr-central/config.yaml" > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  sed "s|@VERSION@|$version|g" "packaging/linux/central-debian/$script" > "$stage/DEBIAN/$script"
  chmod 0755 "$stage/DEBIAN/$script"
done
fi

mkdir -p "$out"
deb="$out/${package}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
