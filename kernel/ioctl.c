// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl.c - file ioctls go to the server (ZUFS_OP_IOCTL) with _IOC_SIZE(cmd) bytes of
 * argument carried in the payload: copied in for _IOC_WRITE, out for _IOC_READ.
 */
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/capability.h>

#include "zuf.h"

long zuf_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct inode *inode = file_inode(filp);
	struct zufs_ioc_ioctl ioc = {};
	void __user *uarg = (void __user *)arg;
	size_t size = _IOC_SIZE(cmd);
	struct zufc_thread *zt;
	int err;

	if (_IOC_DIR(cmd) == _IOC_NONE)
		size = 0;
	zt = zufc_get_channel(SBI(inode->i_sb), &err);
	if (!zt)
		return err;
	err = -ENOTTY;
	if (size > zufc_payload_max(zt))
		goto put;
	err = -EFAULT;
	if ((_IOC_DIR(cmd) & _IOC_WRITE) && size && copy_from_user(zufc_payload(zt), uarg, size))
		goto put;

	zuf_hdr_init(&ioc.hdr, ZUFS_OP_IOCTL, sizeof(ioc), sizeof(ioc));
	ioc.zus_ii = ZUII(inode)->zus_ii;
	ioc.cmd = cmd;
	ioc.kflags = capable(CAP_SYS_ADMIN) ? ZUFS_IOC_KF_CAP_ADMIN : 0;
	ioc.time = cpu_to_le64(zuf_now_ns(inode));
	ioc.hdr.len = size;
	err = zufc_call(&zt, &ioc.hdr, sizeof(ioc));
	if (err)
		goto put;
	if ((_IOC_DIR(cmd) & _IOC_READ) && ioc.hdr.len &&
	    copy_to_user(uarg, zufc_payload(zt), ioc.hdr.len))
		err = -EFAULT;
put:
	zufc_put_channel(zt);
	if (!err)
		zuf_refresh_inode(inode);
	return err;
}
