#!/bin/busybox sh
# /init of the guest that bench/qemu-smmuv3.ts boots: load the virtio drivers (modules of the same
# Debian kernel package), do some DMA through the SMMU (block reads, an interface with its receive
# ring filled, a few pings to QEMU's user-mode gateway), then say READY and idle while the host
# stops the machine and dumps its memory. Every device is behind QEMU's SMMUv3 (virt,iommu=smmuv3)
# in a DMA domain (Debian's default, CONFIG_IOMMU_DEFAULT_DMA_STRICT).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /virtio_blk.ko
insmod /failover.ko
insmod /net_failover.ko
insmod /virtio_net.ko
sleep 1
for d in /sys/kernel/iommu_groups/*/devices/*; do echo "IOMMU-LAB group $d $(cat ${d%/devices/*}/type)"; done
dd if=/dev/vda of=/dev/null bs=64k count=64 2>&1
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ping -c 24 -i 0.1 -s 1400 -W 1 10.0.2.2 2>&1 | tail -2
dd if=/dev/vda of=/dev/null bs=4k skip=100 count=50 2>&1 | tail -1
sleep 2
# With a crash kernel in the initramfs (a kdump fixture): load it, then panic into it once READY.
if [ -e /crash.gz ]; then
  kexec -p /vmlinuz --initrd=/crash.gz --append="console=ttyAMA0 maxcpus=1 reset_devices quiet" && echo IOMMU-LAB-KEXEC-LOADED
fi
echo IOMMU-LAB-READY
[ -e /crash.gz ] && echo c > /proc/sysrq-trigger
while true; do sleep 100; done
