/*
 * iommu-lab bench shim: the error numbers the io-pgtable files return (negated), with the values of
 * include/uapi/asm-generic/errno-base.h, which the JS formats return too.
 */
#ifndef KSHIM_LINUX_ERRNO_H
#define KSHIM_LINUX_ERRNO_H

#define ENOMEM 12
#define EFAULT 14
#define EEXIST 17
#define EINVAL 22
#define ERANGE 34

#endif
