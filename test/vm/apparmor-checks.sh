# Sourced by guest-checks.sh (its helpers, $M and $R): AppArmor against the real
# binary. Debian's kernel turns AppArmor on; the host's kernel has none. Every root
# filesystem container before these ran under the default profile, which the first
# of them loaded.
echo "layout: apparmor $(cat /sys/module/apparmor/parameters/enabled)"
P=myuts-default-1
check "default profile loaded, by myuts" grep -qx "$P (enforce)" /sys/kernel/security/apparmor/profiles
out=$($M run --rootfs $R -- cat /proc/self/attr/apparmor/current 2>&1)
check "the payload runs under it" [ "$out" = "$P (enforce)" ]
out=$($M run --init --rootfs $R -- cat /proc/1/attr/apparmor/current 2>&1)
check "--init: the init too" [ "$out" = "$P (enforce)" ]
out=$($M run --rootfs $R --privileged -- cat /proc/self/attr/apparmor/current 2>&1)
check "--privileged: unconfined" [ "$out" = "unconfined" ]

# It stops a mount that CAP_SYS_ADMIN without a seccomp filter allows; unconfined, the same mount works.
mnt='busybox mkdir -p /tmp/m && busybox mount -t tmpfs none /tmp/m && echo mounted'
out=$($M run --rootfs $R --cap-add SYS_ADMIN --security-opt seccomp=unconfined -- sh -c "$mnt" 2>&1)
check "default profile: mount denied" [ "${out#*mounted}" = "$out" ]
out=$($M run --rootfs $R --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined -- sh -c "$mnt" 2>&1)
check "apparmor=unconfined: mount allowed" contains "$out" mounted

# 20 first starts at once (the profile unloaded): one loads it, every container runs under it.
echo "profile $P {}" | apparmor_parser -R 2>/dev/null
check "default profile unloaded" [ -z "$(grep "^$P " /sys/kernel/security/apparmor/profiles)" ]
rm -f /tmp/aa-concurrent
for i in $(seq 1 20); do ( [ "$($M run --rootfs $R -- cat /proc/self/attr/apparmor/current 2>&1)" = "$P (enforce)" ] || echo "fail $i" >>/tmp/aa-concurrent ) & done
wait
check "20 concurrent first starts under the default profile" [ ! -s /tmp/aa-concurrent ]

# A profile of the user's, by name.
printf '%s\n' 'profile myuts-test flags=(attach_disconnected,mediate_deleted) {' '  file,' '  capability,' \
  '  signal (receive) peer=unconfined,' '  deny /tmp/secret w,' '}' >/tmp/test.profile
check "apparmor_parser loads a test profile" apparmor_parser -K -r /tmp/test.profile
out=$($M run --rootfs $R --security-opt apparmor=myuts-test -- sh -c 'cat /proc/self/attr/apparmor/current; echo x > /tmp/secret && echo wrote' 2>&1)
check "apparmor=NAME: runs under it" contains "$out" "myuts-test (enforce)"
check "apparmor=NAME: its rule holds" [ "${out#*wrote}" = "$out" ]
out=$($M run --rootfs $R --security-opt apparmor=nope -- true 2>&1)
rc=$?
check "a profile not loaded: exit 125" [ $rc = 125 ]
check "a profile not loaded: one line" [ "$out" = "myuts: AppArmor profile nope: not loaded (apparmor_parser -r FILE loads it): ENOENT (No such file or directory)" ]

# exec: the container's profile, or the one --apparmor names.
$M run -d --name aa --rootfs $R -- sleep 60 >/dev/null
out=$($M exec aa cat /proc/self/attr/apparmor/current 2>&1)
check "exec: the container's profile" [ "$out" = "$P (enforce)" ]
out=$($M exec --apparmor myuts-test aa cat /proc/self/attr/apparmor/current 2>&1)
check "exec --apparmor" [ "$out" = "myuts-test (enforce)" ]
$M rm -f aa >/dev/null

# An OCI bundle's process.apparmorProfile, through create and start.
mkdir -p /b2
$M spec --pid --mount --rootfs $R --security-opt apparmor=myuts-test -- cat /proc/self/attr/apparmor/current >/b2/config.json
# (a file, not a pipe: the created container holds its stdio until it ends)
$M create -b /b2 oci2 >/tmp/oci2.out 2>&1 </dev/null
check "oci: create" [ $? = 0 ]
$M start oci2
i=0
while [ $i -lt 50 ] && ! $M state oci2 | grep -q '"stopped"'; do sleep 0.1; i=$((i + 1)); done
check "oci: process.apparmorProfile" [ "$(cat /tmp/oci2.out)" = "myuts-test (enforce)" ]
$M delete -f oci2
