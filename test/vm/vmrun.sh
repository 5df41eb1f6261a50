#!/bin/bash
# (project copy of /work/shared/reference/vmrun.sh; used by test/vm/run.sh)
# vmrun.sh - boot Debian's stock kernel under qemu (TCG), with the host's root
# filesystem shared read-only over virtio-9p (+ a writable tmpfs overlay), load
# out-of-tree module(s), run ONE command from the host filesystem inside the
# guest, power off, and propagate the command's exit code.
#
# usage: vmrun.sh [-k KVER] [-m mod.ko]... [-M debian_mod]... [-w DIR] [-t SECS]
#                 [-c CPUS] [-r MEM] [-a 'extra kernel args'] [-q 'extra qemu args']
#                 [-p PORT]... [-e NAME=VAL]... [-P SIZE!OFFSET]... [-u] [-o DIR] [-v] -- command [args...]
#   -m FILE.ko  out-of-tree module to insmod before the command (repeatable;
#               its Debian deps are resolved via modinfo -F depends + modprobe -S)
#   -M NAME     extra Debian module to load (repeatable), e.g. -M fuse -M ext4
#   -w DIR      host dir mounted READ-WRITE in the guest at the same path
#               (default: $PWD). Everything else is a throw-away overlay.
#   -t SECS     hard wall-clock limit for qemu (default 600)
#   -p PORT     give the guest a NIC (virtio-net, qemu user net with restrict=on)
#               on which ONLY 10.0.2.100:PORT is reachable; it is forwarded to the
#               host's 127.0.0.1:PORT (via `nc`, package netcat-openbsd). Repeatable.
#               The guest is 10.0.2.15/24; /etc/hosts maps 10.0.2.100 to "hostlo".
#   -P SIZE!OFF emulated pmem (legacy e820): adds memmap=SIZE!OFF to the kernel command line and
#               loads nd_pmem nd_e820 dax_pmem (repeatable: one /dev/pmemN per range, in address
#               order). The range must lie in guest RAM: with -r 4G (low RAM ends at 3G, high RAM
#               is 4G-5G) use e.g. 64M!4G or 512M!4G; NOT !3G (the PCI hole: writes are lost).
#               /dev/pmemN then has queue/dax=1 (fsdax, map=mem) without any ndctl step.
#   -e N=V      export N=V for the command (repeatable); otherwise the command
#               gets only HOME=/root, TERM=dumb and a standard PATH
#   -u          after the command, rmmod the -m modules (reverse order); a failed
#               unload turns the exit status into 125
#   -o DIR      keep console.log, dmesg, tainted, qemu.log of the run in DIR
#   -v          stream the guest serial console (kernel log) to stderr
# exit status: the command's exit status; 124 = timeout; 125 = VM/infra failure
#   (module failed to load, kernel oops/panic, ...). The console log is printed
#   on 124/125. The command's stdout/stderr are captured in the guest and replayed
#   on the host's stdout/stderr after the VM powers off (byte-exact, not streamed).
# requirements (Debian 12): apt-get install qemu-system-x86 linux-image-amd64
#   linux-headers-amd64 busybox-static cpio kmod build-essential (+ netcat-openbsd for -p)
# shellcheck disable=SC2054  # commas below are qemu option syntax
set -euo pipefail

KVER=${KVER:-$(ls /lib/modules | sort -V | tail -1)}
WORK=$PWD; TMO=600; CPUS=2; MEM=2G; KAPPEND=""; QEXTRA=""; VERBOSE=0
MODS=(); DMODS=(); PORTS=(); ENVS=(); UNLOAD=0; KEEP=""; PMEM=()
while getopts "k:m:M:w:t:c:r:a:q:p:e:P:uo:vh" o; do
  case $o in
    k) KVER=$OPTARG;; m) MODS+=("$(realpath "$OPTARG")");; M) DMODS+=("$OPTARG");;
    w) WORK=$(realpath "$OPTARG");; t) TMO=$OPTARG;; c) CPUS=$OPTARG;; r) MEM=$OPTARG;;
    a) KAPPEND=$OPTARG;; q) QEXTRA=$OPTARG;; v) VERBOSE=1;;
    e) [[ $OPTARG =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || { echo "vmrun: -e wants NAME=VALUE" >&2; exit 2; }; ENVS+=("$OPTARG");;
    u) UNLOAD=1;; o) KEEP=$OPTARG;;
    P) [[ $OPTARG =~ ^[0-9]+[KMG]![0-9]+[KMG]$ ]] || { echo "vmrun: -P wants SIZE!OFFSET, e.g. 64M!4G" >&2; exit 2; }; PMEM+=("$OPTARG");;
    p) [[ $OPTARG =~ ^[0-9]+$ ]] || { echo "vmrun: -p wants a port number" >&2; exit 2; }; PORTS+=("$OPTARG");;
    *) sed -n "2,/^# shellcheck/p" "$0" | sed "\$d"; exit 2;;
  esac
done
shift $((OPTIND-1))
# emulated pmem: memmap= ranges + the nvdimm modules (resolved with -C /dev/null below, which also
# sidesteps ndctl's `install libnvdimm` modprobe.d rule)
if [ ${#PMEM[@]} -gt 0 ]; then
  for p in "${PMEM[@]}"; do KAPPEND+=" memmap=$p"; done
  DMODS+=(nd_pmem nd_e820 dax_pmem)
fi
[ $# -ge 1 ] || { echo "vmrun: no command given (use: vmrun.sh [opts] -- cmd args)" >&2; exit 2; }
KERNEL=/boot/vmlinuz-$KVER
missing=""
for f in /usr/bin/qemu-system-x86_64 /bin/busybox /usr/bin/cpio /usr/share/qemu/qboot.rom "$KERNEL" "/lib/modules/$KVER/modules.dep"; do
  [ -e "$f" ] || missing+=" $f"
done
if [ -n "$missing" ] || ! grep -qx insmod <<< "$(/bin/busybox --list 2>/dev/null)"; then
  echo "vmrun: missing:$missing (or /bin/busybox is not busybox-static)" >&2
  echo "  apt-get install -y qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod" >&2
  exit 125
fi
case "$WORK" in *[[:space:]]*|/) echo "vmrun: -w dir must not be / or contain spaces" >&2; exit 2;; esac

RUN=$(mktemp -d /tmp/vmrun.XXXXXX)
QPID=""
cleanup() { [ -n "$QPID" ] && kill "$QPID" 2>/dev/null; rm -rf "$RUN"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the command, as a script run by /bin/sh inside the chroot ----
{
  for e in "${ENVS[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done
  echo "cd $(printf %q "$PWD") 2>/dev/null || cd /"
  printf 'exec'; printf ' %q' "$@"; echo
} > "$RUN/cmd.sh"

# ---- guest /init ----
cat > "$RUN/init" <<'EOF'
#!/bin/busybox sh
export PATH=/bin
echo "VMRUN: init"
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^vmrun\.$1=//p"; }
RUNDIR=$(arg dir); WORK=$(arg work)
fail() { echo "VMRUN-FAIL: $*"; dmesg | tail -30; poweroff -f; sleep 10; }
while read -r m; do   # Debian modules: warn only (e.g. crc32c-intel needs SSE4.2); extra/: fatal
  out=$(insmod "$m" 2>&1) && continue
  case $m in */extra/*) fail "insmod $m: $out";; *) echo "VMRUN-WARN: insmod $m: $out";; esac
done < /etc/modload.order
o9p="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /lower /upper /host
mount -t 9p -o "$o9p,cache=loose,ro" hostroot /lower || fail "9p mount of host root failed"
mount -t tmpfs -o mode=755 upper /upper && mkdir /upper/u /upper/w
if ! mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /host 2>/dev/null; then
  mount --bind /lower /host; mount -t tmpfs tmp /host/tmp       # fallback: ro root + tmpfs /tmp
fi
mount -t proc proc /host/proc; mount -t sysfs sys /host/sys; mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts; mount -t tmpfs shm /host/dev/shm
mkdir -p "/host$WORK" "/host$RUNDIR" 2>/dev/null
mount -t 9p -o "$o9p,cache=none" work "/host$WORK" || fail "9p mount of work dir failed"
mount -t 9p -o "$o9p,cache=none" vmrun "/host$RUNDIR" || fail "9p mount of run dir failed"
ip link set lo up
if [ "$(arg net)" = 1 ]; then
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 \
    || fail "network setup failed"
  echo "10.0.2.100 hostlo" >> /host/etc/hosts      # lands in the throw-away overlay
fi
echo "VMRUN: guest ready at $(cut -d' ' -f1 /proc/uptime)s"
HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  chroot /host /bin/sh "$RUNDIR/cmd.sh" > "/host$RUNDIR/stdout" 2> "/host$RUNDIR/stderr" < /dev/null
rc=$?
echo "VMRUN: command exited rc=$rc at $(cut -d' ' -f1 /proc/uptime)s"
if [ "$(arg unload)" = 1 ]; then
  for m in $(grep /extra/ /etc/modload.order | sed '1!G;h;$!d'); do
    n=$(basename "$m" .ko)
    rmmod "$n" >> "/host$RUNDIR/rmmod.err" 2>&1 || { echo "VMRUN: rmmod $n failed"; echo "$n" >> "/host$RUNDIR/rmmod_failed"; }
  done
fi
dmesg > "/host$RUNDIR/dmesg"; cat /proc/sys/kernel/tainted > "/host$RUNDIR/tainted"
echo "$rc" > "/host$RUNDIR/rc"
sync; umount "/host$RUNDIR"; umount "/host$WORK"
poweroff -f
EOF

# ---- initramfs: busybox + modules (deps resolved from the Debian modules dir) ----
ST=$RUN/initramfs
mkdir -p "$ST"/{bin,dev,proc,sys,tmp,etc,lib/modules/$KVER/extra}
cp /bin/busybox "$ST/bin/"
for a in $(/bin/busybox --list); do [ -e "$ST/bin/$a" ] || ln -s busybox "$ST/bin/$a"; done
ln -s bin "$ST/sbin"
install -m 755 "$RUN/init" "$ST/init"
declare -A seen=()
addmods() {  # reads "insmod /path" lines (modprobe --show-depends format)
  local kw path rel
  while read -r kw path _; do
    [ "$kw" = builtin ] && continue
    [ "$kw" = insmod ] || { echo "vmrun: unexpected modprobe output: $kw $path" >&2; exit 125; }
    [ -n "${seen[$path]:-}" ] && continue; seen[$path]=1
    if [[ $path == /lib/modules/$KVER/* ]]; then rel=${path#/}
    else rel=lib/modules/$KVER/extra/$(basename "$path"); fi
    mkdir -p "$ST/$(dirname "$rel")"; cp "$path" "$ST/$rel"
    echo "/$rel" >> "$ST/etc/modload.order"
  done
}
: > "$ST/etc/modload.order"
NETMOD=(); [ ${#PORTS[@]} -gt 0 ] && NETMOD=(virtio_net)
for m in virtio_pci 9pnet_virtio 9p overlay "${NETMOD[@]}" "${DMODS[@]}"; do
  addmods < <(modprobe -C /dev/null -S "$KVER" --show-depends "$m")
done
for ko in "${MODS[@]}"; do
  vm=$(modinfo -F vermagic "$ko" | cut -d' ' -f1)
  [ "$vm" = "$KVER" ] || { echo "vmrun: $ko has vermagic '$vm', kernel is $KVER" >&2; exit 125; }
  for d in $(modinfo -F depends "$ko" | tr ',' ' '); do
    addmods < <(modprobe -C /dev/null -S "$KVER" --show-depends "$d")
  done
  addmods <<< "insmod $ko"
done
(cd "$ST" && find . | cpio -o -H newc --quiet | gzip -1) > "$RUN/initrd.gz"

# ---- boot ----
KNET=""; NETARGS=()
if [ ${#PORTS[@]} -gt 0 ]; then
  command -v nc >/dev/null || { echo "vmrun: -p needs nc (apt-get install netcat-openbsd)" >&2; exit 125; }
  NET="user,id=n0,restrict=on"
  for p in "${PORTS[@]}"; do NET+=",guestfwd=tcp:10.0.2.100:$p-cmd:nc 127.0.0.1 $p"; done
  NETARGS=(-netdev "$NET" -device virtio-net-pci,netdev=n0)
  KNET="vmrun.net=1"
fi
[ "$UNLOAD" = 1 ] && KNET+=" vmrun.unload=1"
QARGS=(-accel tcg,thread=multi -cpu max -smp "$CPUS" -m "$MEM"
  -nodefaults -display none -no-reboot -monitor none
  -bios /usr/share/qemu/qboot.rom
  -serial "file:$RUN/console.log"
  -kernel "$KERNEL" -initrd "$RUN/initrd.gz"
  -append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic vmrun.dir=$RUN vmrun.work=$WORK $KNET $KAPPEND"
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
  -virtfs "local,path=$WORK,mount_tag=work,security_model=none,multidevs=remap"
  -virtfs "local,path=$RUN,mount_tag=vmrun,security_model=none"
  "${NETARGS[@]}")
# shellcheck disable=SC2206
[ -n "$QEXTRA" ] && QARGS+=($QEXTRA)
# Boot watchdog: under TCG the stock kernel has been seen (once in many hundred boots) to hang
# silently before /init runs. Nothing of ours has run then (no module loaded, no device touched),
# so such a boot is retried once; a hang after /init started is the run's own and is not retried.
BOOT_TMO=${VMRUN_BOOT_TIMEOUT:-300}
for attempt in 1 2; do
  : > "$RUN/console.log"
  timeout -k 5 "$TMO" qemu-system-x86_64 "${QARGS[@]}" < /dev/null > "$RUN/qemu.log" 2>&1 &
  QPID=$!
  if [ "$VERBOSE" = 1 ]; then tail -n +1 -f --pid=$QPID "$RUN/console.log" >&2 & fi
  waited=0
  while kill -0 $QPID 2>/dev/null && ! grep -q '^VMRUN: init' "$RUN/console.log"; do
    [ $waited -ge "$BOOT_TMO" ] && break
    sleep 1; waited=$((waited + 1))
  done
  if [ $waited -ge "$BOOT_TMO" ] && [ $attempt = 1 ] && ! grep -q '^VMRUN: init' "$RUN/console.log"; then
    echo "vmrun: the guest kernel did not reach /init in ${BOOT_TMO}s (silent TCG boot hang); booting again" >&2
    kill $QPID 2>/dev/null || true; wait $QPID 2>/dev/null || true
    cp -f "$RUN/console.log" "$RUN/console.hung.log"
    continue
  fi
  break
done
set +e; wait $QPID; qrc=$?; set -e; QPID=""
wait 2>/dev/null || true
if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; cp -f "$RUN"/{console.log,qemu.log,cmd.sh} "$RUN"/console.hung.log "$RUN"/dmesg "$RUN"/tainted "$KEEP"/ 2>/dev/null || true; fi

if [ -f "$RUN/rc" ]; then
  cat "$RUN/stdout"; cat "$RUN/stderr" >&2
  if grep -q '^VMRUN-FAIL' "$RUN/console.log"; then cat "$RUN/console.log" >&2; exit 125; fi
  if [ -f "$RUN/rmmod_failed" ]; then
    echo "vmrun: rmmod failed for: $(tr '\n' ' ' < "$RUN/rmmod_failed")(command rc=$(cat "$RUN/rc"))" >&2
    cat "$RUN/rmmod.err" >&2; exit 125
  fi
  exit "$(cat "$RUN/rc")"
fi
echo "vmrun: no exit status from guest (qemu rc=$qrc$([ $qrc = 124 ] && echo ", timeout ${TMO}s"))" >&2
echo "---- qemu ----" >&2; cat "$RUN/qemu.log" >&2
echo "---- guest console (tail) ----" >&2; tail -n 60 "$RUN/console.log" >&2
[ "$qrc" = 124 ] && exit 124
exit 125
