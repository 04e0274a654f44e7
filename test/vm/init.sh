#!/bin/busybox sh
# PID 1 of the test VM. pivot_root can't leave the initramfs (rootfs), so the
# tree is copied to a tmpfs and switch_root'ed into first.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
if [ "$1" != stage2 ]; then
  mount -t proc proc /proc
  # Still on the initramfs: pivot_root can't work here, so myuts must fall back to chroot.
  echo # the console's first line starts with terminal escapes
  out=$(/myuts run --pid --rootfs /rootfs --trace -- sh -c 'echo inside:$$; ls /init 2>&1' 2>&1)
  # The trace and the payload's output interleave: check each on its own.
  case "$out" in *"chroot fallback"*) fb=1 ;; *) fb=0 ;; esac
  case "$out" in *inside:1*) in1=1 ;; *) in1=0 ;; esac
  case "$out" in *"No such file"*) gone=1 ;; *) gone=0 ;; esac
  if [ "$fb$in1$gone" = 111 ]; then
    echo "PASS chroot fallback on an initramfs root"
  else
    echo "FAIL chroot fallback on an initramfs root: $(echo "$out" | grep -v '^myuts init' | tail -n 4 | tr '\n' '|')"
  fi
  mkdir -p /newroot
  mount -t tmpfs -o size=900m tmpfs /newroot
  for d in bin sbin lib lib64 rootfs myuts guest-lib.sh guest-checks.sh apparmor-checks.sh selinux-checks.sh selinux.policy init; do [ -e /$d ] && cp -a /$d /newroot/; done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/run /newroot/tmp
  umount /proc
  exec switch_root /newroot /init stage2
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
echo VM-START
# The same image boots twice: AppArmor and SELinux can't both be on in this kernel.
case "$(cat /proc/cmdline)" in
  *myuts.checks=selinux*) sh /selinux-checks.sh 2>&1 ;;
  *) sh /guest-checks.sh 2>&1 ;;
esac
sync
poweroff -f
