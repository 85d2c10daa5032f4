# Sourced by tools/test and tools/example: `install_missing PACKAGE...` installs the Debian packages that are
# not there yet with apt-get (sudo -n when not root). Does nothing with MIXT_NO_APT=1 or without apt-get.

package_present() {
  case $1 in  # tools may come from elsewhere than dpkg (pip, a CUDA image): a command on PATH is enough
    meson) command -v meson >/dev/null && return 0 ;;
    ninja-build) command -v ninja >/dev/null && return 0 ;;
    pkg-config) command -v pkg-config >/dev/null && return 0 ;;
    cmake) command -v cmake >/dev/null && return 0 ;;
    g++) command -v g++ >/dev/null && return 0 ;;
  esac
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_missing() {
  [[ ${MIXT_NO_APT:-0} == 1 ]] && return 0
  command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || return 0
  local missing=() p
  for p in "$@"; do package_present "$p" || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  local as_root=()
  if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      printf 'missing packages: %s (not root and no sudo: install them yourself)\n' "${missing[*]}"
      return 0
    fi
  fi
  printf 'installing: %s\n' "${missing[*]}"
  "${as_root[@]+"${as_root[@]}"}" apt-get update -qq >/dev/null &&
    "${as_root[@]+"${as_root[@]}"}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    printf 'warning: apt-get could not install everything; going on with what is there\n'
}
