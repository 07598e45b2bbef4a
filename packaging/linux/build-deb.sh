#!/usr/bin/env bash
# Builds dist/asr-agent_<version>_<arch>.deb: the agent in a self-contained virtual
# environment under /opt/asr-agent/<version>, a `current` symlink the systemd unit starts,
# config in /etc/asr-agent (a conffile: kept on remove, deleted on purge).
#
# usage: packaging/linux/build-deb.sh [--wheelhouse DIR] [--python PATH] [--out DIR]
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

wheelhouse=""
python=/usr/bin/python3
out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) wheelhouse=$(realpath "$2"); shift 2 ;;
    --python) python=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-deb: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

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
prefix="/opt/asr-agent/$version"
venv="$stage$prefix"
echo "build-deb: installing asr $version and its dependencies into $prefix"
"$pyreal" -m venv "$venv"
"$venv/bin/pip" install -q --no-compile "${pip_src[@]}" "$wheel"
# pip is not needed at run time: the updater creates each new version's venv afresh.
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

mkdir -p "$out"
deb="$out/asr-agent_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
