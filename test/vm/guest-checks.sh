#!/bin/sh
# Runs inside the VM on a cgroup v2 only kernel with AppArmor on: the cgroup and
# AppArmor checks against the real binary. Prints PASS/FAIL lines on the serial
# console; the host parses them.
. /guest-lib.sh

echo "layout: $(cat /sys/fs/cgroup/cgroup.controllers)"

# limits are written to the v2 files, controllers enabled in subtree_control
$M run --name lim --init --rootfs $R --memory 64m --memory-swap 96m --cpus 0.5 --cpu-shares 512 --pids-limit 20 -- sleep 60 &
run_pid=$!
i=0; while [ ! -d /sys/fs/cgroup/myuts-lim ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
sleep 1
D=/sys/fs/cgroup/myuts-lim
check memory.max [ "$(cat $D/memory.max)" = 67108864 ]
check memory.swap.max [ "$(cat $D/memory.swap.max)" = 33554432 ]
check cpu.max [ "$(cat $D/cpu.max)" = "50000 100000" ]
check cpu.weight [ "$(cat $D/cpu.weight)" = 20 ]
check pids.max [ "$(cat $D/pids.max)" = 20 ]
for c in memory pids cpu; do check "subtree_control $c" grep -qw $c /sys/fs/cgroup/cgroup.subtree_control; done
check "payload joined" [ -n "$(cat $D/cgroup.procs)" ]
out=$($M stats --json lim 2>&1)
check "stats" contains "$out" '"limit":67108864' 
check "update" $M update lim --memory 128m --pids-limit 30
check "update memory.max" [ "$(cat $D/memory.max)" = 134217728 ]
check "events --stats" contains "$($M events --stats lim)" '"type":"stats"' 
kill $run_pid; wait $run_pid
check "removed after SIGTERM" [ ! -d $D ]

# OOM: exit 137 and the message
err=$($M run --pid --rootfs $R --memory 32m --memory-swap 32m -- sh -c 'x=a; while :; do x="$x$x"; done' 2>&1); rc=$?
check "oom exit 137" [ $rc = 137 ]
check "oom message" contains "$err" "myuts: the container was killed: out of memory (limit 32 MiB)"

# a fork bomb stops at the pids limit
err=$($M run --pid --rootfs $R --pids-limit 6 -- sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1 & done; wait' 2>&1)
check "pids limit" contains "$err" "can't fork"

# cpu: a busy loop under --cpus 0.5 gets throttled
$M run --name cpu --init --rootfs $R --cpus 0.5 -- sh -c 'while :; do :; done' &
run_pid=$!
sleep 2
thr=$(grep nr_throttled /sys/fs/cgroup/myuts-cpu/cpu.stat | cut -d' ' -f2)
check "cpu throttled" [ "${thr:-0}" -gt 0 ]
kill $run_pid; wait $run_pid

# cpuset
out=$($M run --rootfs $R --cpuset-cpus 0 -- grep Cpus_allowed_list /proc/self/status)
check "cpuset" [ "$(echo $out)" = "Cpus_allowed_list: 0" ]

# cgroup namespace: the container's own cgroup is /
out=$($M run --pid --rootfs $R --cgroupns private --memory 64m -- cat /proc/self/cgroup)
check "cgroupns /" [ "$out" = "0::/" ]

# the caller in a leaf that holds processes: the container goes next to it
mkdir /sys/fs/cgroup/leaf
echo $$ > /sys/fs/cgroup/leaf/cgroup.procs
out=$($M run --name nextto --rootfs $R --cgroupns host --memory 64m -- cat /proc/self/cgroup 2>&1)
check "leaf caller" [ "$out" = "0::/myuts-nextto" ]
echo $$ > /sys/fs/cgroup/cgroup.procs
rmdir /sys/fs/cgroup/leaf

# errors: one line naming the controller and file, exit 125
err=$($M run --rootfs $R --cpuset-cpus 9 -- true 2>&1); rc=$?
check "error exit 125" [ $rc = 125 ]
check "error line" contains "$err" "myuts: cgroup cpuset: write cpuset.cpus=9: E"

# a SIGKILLed runtime without --pid: the next start kills what its payload left
# (cgroup.kill), then removes its cgroup and its entry
$M run --name orphan --memory 64m -- sh -c 'sleep 300 & echo $! > /tmp/orphan.pid; wait' &
run_pid=$!
i=0; while [ ! -s /tmp/orphan.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -9 $run_pid; wait $run_pid 2>/dev/null
check "orphan outlives its runtime" grep -qx "$(cat /tmp/orphan.pid)" /sys/fs/cgroup/myuts-orphan/cgroup.procs
$M run --memory 64m -- true
check "the next start killed it and removed its cgroup" [ ! -d /sys/fs/cgroup/myuts-orphan ]
check "and its registry entry" [ ! -e /run/myuts/orphan.json ]

# concurrent limited starts: no start's sweep takes another's cgroup
for i in $(seq 1 20); do ($M run --memory 64m -- true || echo "fail $i" >>/tmp/concurrent) & done
wait
check "20 concurrent limited starts" [ ! -s /tmp/concurrent ]

# On cgroup v2 the container's first process is born in its cgroup (clone3's
# CLONE_INTO_CGROUP), so neither run nor create writes cgroup.procs (whose first write
# waits out an RCU grace period). Every limited run above started this way: the limits,
# the OOM kill and the cleanup checks cover it.
out=$($M run --pid --mount --rootfs $R --memory 64m --trace -- true 2>&1)
check "run: born in its cgroup" contains "$out" "born in its cgroup (CLONE_INTO_CGROUP)"
# OCI create, the same
mkdir -p /b
$M spec --pid --mount --uts --ipc --rootfs $R --memory 64m -- sleep 30 > /b/config.json
# (a file, not a pipe: the created container holds its stdio until it ends)
$M create --trace -b /b oci1 >/dev/null 2>/tmp/oci.trace </dev/null
check "oci create" [ $? = 0 ]
check "born in its cgroup" grep -q "born in its cgroup (CLONE_INTO_CGROUP)" /tmp/oci.trace
pid=$($M state oci1 | grep '"pid"' | tr -dc 0-9)
check "oci in its cgroup" grep -qx "$pid" /sys/fs/cgroup/myuts-oci1/cgroup.procs
check "oci memory.max" [ "$(cat /sys/fs/cgroup/myuts-oci1/memory.max)" = 67108864 ]
check "oci start" $M start oci1
# once the container has its cgroup namespace (made after start), which exec joins
sleep 1
out=$($M exec --trace oci1 cat /proc/self/cgroup 2>&1)
check "oci exec: born in its cgroup" contains "$out" "born in the container's cgroup (CLONE_INTO_CGROUP)"
check "oci exec: in the container's cgroup" contains "$out" "0::/"
check "oci delete" $M delete -f oci1
check "oci cgroup removed" [ ! -d /sys/fs/cgroup/myuts-oci1 ]

. /apparmor-checks.sh

# nothing left behind
left=$(find /sys/fs/cgroup -name '*myuts*')
check "no leftovers" [ -z "$left" ]
check "no state files" [ -z "$(ls /run/myuts 2>/dev/null)" ]
echo VM-DONE
