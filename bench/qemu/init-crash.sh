#!/bin/busybox sh
# /init of the crash (kdump) kernel that bench/qemu-smmuv3.ts has the guest load with `kexec -p`:
# after the first kernel panics, save /proc/vmcore - the first kernel's memory as an ELF core, as
# kdump-tools would - raw onto the second disk, say how long it is, and power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /virtio_blk.ko
sleep 1
S=$(wc -c < /proc/vmcore)
dd if=/proc/vmcore of=/dev/vdb bs=1M 2>&1 | tail -1
sync
echo "IOMMU-LAB-SAVED $S"
poweroff -f
