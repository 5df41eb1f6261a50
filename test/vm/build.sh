#!/bin/bash
# Builds what the VM suite needs: zuf.ko against Debian's 6.1 headers (W=1, -Werror) and a
# bundled zusd for the zuf transport (esbuild: loads fast in the slow TCG guest; koffi stays external).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$ROOT/kernel" modules
out=$ROOT/test/vm/.build
rm -rf "$out" && mkdir -p "$out"
# side by side: workers are found next to their parent (./zuf-worker.js, ./notify-worker.js, …);
# zufs-cli.js is the product CLI (the serve suite's `zufs serve`, the bench's FUSE zusd) in one
# file: node loads ~500 modules of dist/ over 9p in minutes under TCG
for entry in test/vm/zusd-vm.ts src/zus/zuf/zuf-worker.ts src/zus/cli.ts src/zus/fuse/notify-worker.ts \
             src/zus/fuse/channel-worker.ts; do
  name=$(basename "$entry" .ts); [ "$name" = cli ] && name=zufs-cli
  "$ROOT/node_modules/.bin/esbuild" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --external:koffi --outfile="$out/$name.js" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
    "$ROOT/$entry"
done
gcc -O2 -Wall -Werror -o "$out/zuf-probe" "$ROOT/test/vm/zuf-probe.c"
gcc -O2 -Wall -Werror -pthread -I "$ROOT/kernel" -o "$out/evil-zusd" "$ROOT/test/vm/evil-zusd.c"
echo "built $ROOT/kernel/zuf.ko and $out/{zusd-vm,zuf-worker,zufs-cli}.js"
