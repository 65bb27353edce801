# Sourced by the CI scripts: need_packages installs the Debian packages not yet installed (root
# only; `apt-get update` once per script), and fails with a message where it cannot.
apt_updated=false
need_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root: cannot install ${missing[*]}"
        return 1
    fi
    if ! $apt_updated; then
        apt-get update -qq
        apt_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}
