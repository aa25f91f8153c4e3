/*
 * iommu-lab bench shim: the error numbers the io-pgtable files return (negated), with the values of
 * include/uapi/asm-generic/errno-base.h, which the JS formats return too.
 */
#ifndef KSHIM_LINUX_ERRNO_H
#define KSHIM_LINUX_ERRNO_H

#define ENOENT 2
#define ENOMEM 12
#define EFAULT 14
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ERANGE 34
#define EADDRINUSE 98
#define ETIMEDOUT 110

#endif
