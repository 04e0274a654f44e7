#!/bin/sh
# Runs inside the VM booted with SELinux on (lsm=selinux) and test/vm/selinux-policy.conf
# loaded and enforcing: the SELinux checks against the real binary. Prints PASS/FAIL
# lines on the serial console; the host parses them.
. /guest-lib.sh

mount -t selinuxfs selinuxfs /sys/fs/selinux
# One write: selinuxfs takes a policy whole.
dd if=/selinux.policy of=/sys/fs/selinux/load bs=1M 2>/dev/null || echo "FAIL policy load: $(dmesg | grep -i selinux | tail -n 3 | tr '\n' '|')"
echo 1 >/sys/fs/selinux/enforce
echo "layout: selinux enforce=$(cat /sys/fs/selinux/enforce) self=$(cat /proc/self/attr/current)"

C=system_u:system_r:container_t
L="--security-opt label=user:system_u --security-opt label=role:system_r"
out=$($M run --rootfs $R $L --security-opt label=type:container_t -- cat /proc/self/attr/current 2>&1)
check "label=: the payload's context" [ "$out" = "$C" ]
out=$($M run --rootfs $R -- cat /proc/self/attr/current 2>&1)
check "no label by default, as docker" [ "$out" = "system_u:system_r:kernel_t" ]
# The policy decides: a transition it doesn't allow fails the exec (the switched-off check of the above).
$M run --rootfs $R $L --security-opt label=type:other_t -- true 2>/dev/null
check "a transition the policy denies: exit 126" [ $? = 126 ]
out=$($M run --rootfs $R --security-opt label=user:nobody_u --security-opt label=role:system_r --security-opt label=type:container_t -- true 2>&1)
rc=$?
check "a context the policy lacks: exit 125" [ $rc = 125 ]
check "a context the policy lacks: one line" [ "$out" = "myuts: SELinux label nobody_u:system_r:container_t: not a valid context in the loaded policy: EINVAL (Invalid argument)" ]
out=$($M run --init --rootfs $R $L --security-opt label=type:container_t -- true 2>&1)
check "--init with a label: refused" contains "$out" "--init with an SELinux label is not supported"

# exec: the container's context, or --process-label's.
$M run -d --name se --rootfs $R $L --security-opt label=type:container_t -- sleep 60 >/dev/null
out=$($M exec se cat /proc/self/attr/current 2>&1)
check "exec: the container's context" [ "$out" = "$C" ]
$M exec --process-label system_u:system_r:other_t se true 2>/dev/null
check "exec --process-label: the policy decides" [ $? = 126 ]
$M rm -f se >/dev/null

# An OCI bundle: process.selinuxLabel, and linux.mountLabel on its tmpfs and devpts mounts.
mkdir -p /b3
$M spec --pid --mount --rootfs $R $L --security-opt label=type:container_t -- \
  sh -c 'cat /proc/self/attr/current; echo; grep -c "context=system_u:object_r:container_file_t" /proc/self/mountinfo' >/b3/config.json
sed -i 's/"linux": {/"linux": { "mountLabel": "system_u:object_r:container_file_t",/' /b3/config.json
$M create -b /b3 oci3 >/tmp/oci3.out 2>&1 </dev/null
check "oci: create" [ $? = 0 ]
$M start oci3
i=0
while [ $i -lt 50 ] && ! $M state oci3 | grep -q '"stopped"'; do sleep 0.1; i=$((i + 1)); done
out=$(cat /tmp/oci3.out)
check "oci: process.selinuxLabel" [ "${out%%
*}" = "$C" ]
# /dev, /dev/pts and /dev/shm: tmpfs and devpts take the mount label
check "oci: linux.mountLabel on the container's filesystems" [ "${out#*
}" -ge 3 ]
$M delete -f oci3

check "no state files" [ -z "$(ls /run/myuts 2>/dev/null)" ]
echo VM-DONE
