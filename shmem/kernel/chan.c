// SPDX-License-Identifier: GPL-2.0
/*
 * The Orthros message channel: one ring in each direction in the shared
 * memory, an IPI as doorbell, and /dev/orthros-chan for user space.
 *
 * Each ring has one producer (the OS that writes it; its writers are
 * serialised by tx_lock) and one consumer (the other OS; rx_lock).  head and
 * tail are free-running 64-bit counts (see orthros_shm_abi.h on ABA).  The
 * producer fills a slot, then publishes head; the consumer copies the slot,
 * checks its count, then publishes tail.  A producer that finds the ring
 * full raises producer_waiting and sleeps; the consumer rings back when it
 * has made room.  Messages go to the file bound to their port; a full port
 * leaves the rest in the ring (flow control, nothing dropped); a port nobody
 * has bound loses its messages, counted.
 */
#define pr_fmt(fmt) "orthros-chan: " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kfifo.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/orthros.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "orthros_shm.h"

#define PORT_QUEUE	256	/* messages waiting per port */
#define DOORBELL_EVERY	64	/* a long write rings at least this often */

struct port {
	struct list_head node;
	u32 port;
	struct mutex read_lock;
	wait_queue_head_t wq;
	DECLARE_KFIFO_PTR(fifo, struct orthros_msg);
};

static LIST_HEAD(ports);
static DEFINE_SPINLOCK(ports_lock);
static DEFINE_MUTEX(tx_lock);
static DEFINE_MUTEX(rx_lock);
static DECLARE_WAIT_QUEUE_HEAD(tx_wq);
static struct work_struct rx_work;
static u32 next_port = 1024;
static u64 dropped, corrupt;
static bool rx_blocked;

static struct orthros_shm_ring *ring(int n)
{
	return orthros_shm_at(n ? ORTHROS_SHM_RING1_OFF : ORTHROS_SHM_RING0_OFF);
}

static struct orthros_msg *slot(struct orthros_shm_ring *r, u64 count)
{
	return (void *)r + ORTHROS_RING_HDR + (count % ORTHROS_RING_SLOTS) * ORTHROS_MSG_SIZE;
}

/* The active writes ring 0 and reads ring 1; the backup the other way. */
static struct orthros_shm_ring *tx_ring(void)
{
	return ring(orthros_role() == ORTHROS_ROLE_ACTIVE ? 0 : 1);
}

static struct orthros_shm_ring *rx_ring(void)
{
	return ring(orthros_role() == ORTHROS_ROLE_ACTIVE ? 1 : 0);
}

static bool ring_ok(struct orthros_shm_ring *r)
{
	return READ_ONCE(r->slots) == ORTHROS_RING_SLOTS &&
		READ_ONCE(r->msg_size) == ORTHROS_MSG_SIZE &&
		READ_ONCE(r->head) - READ_ONCE(r->tail) <= ORTHROS_RING_SLOTS;
}

/* The peer's APIC, if the peer is up; else -ENOTCONN or -EBADMSG. */
static int peer_apic(u32 *apic)
{
	struct orthros_shm_roles roles;
	struct orthros_shm_os os;
	char why[128];
	u32 peer;

	if (orthros_shm_check(why, sizeof(why)))
		return orthros_shm ? -EBADMSG : -ENODEV;
	if (!orthros_shm_read_roles(&roles))
		return -EBADMSG;
	peer = orthros_role() == ORTHROS_ROLE_ACTIVE ? roles.backup : roles.active;
	if (!peer || peer == orthros_ordinal() || !orthros_shm_read_os(peer, &os) ||
	    os.state != ORTHROS_OS_UP)
		return -ENOTCONN;
	*apic = os.ipi_apic;
	return 0;
}

void orthros_chan_reset(void)
{
	int i;

	mutex_lock(&tx_lock);
	mutex_lock(&rx_lock);
	for (i = 0; i < 2; i++) {
		struct orthros_shm_ring *r = ring(i);

		memset(r, 0, sizeof(*r));
		r->slots = ORTHROS_RING_SLOTS;
		r->msg_size = ORTHROS_MSG_SIZE;
		r->reset_tsc = orthros_tsc();
	}
	mutex_unlock(&rx_lock);
	mutex_unlock(&tx_lock);
	wake_up_all(&tx_wq);
}

static struct port *find_port(u32 nr)
{
	struct port *p;

	list_for_each_entry(p, &ports, node)
		if (p->port == nr)
			return p;
	return NULL;
}

static void rx(struct work_struct *w)
{
	struct orthros_shm_ring *r;
	struct orthros_msg *s;
	struct port *p;
	u64 head, tail;
	u32 apic;
	bool more = false;

	if (!orthros_shm || orthros_role() == ORTHROS_ROLE_NONE)
		return;
	mutex_lock(&rx_lock);
	r = rx_ring();
	if (!ring_ok(r)) {
		mutex_unlock(&rx_lock);
		return;
	}
	tail = READ_ONCE(r->tail);
	/* pairs with the producer's release of head: slots up to head are filled */
	head = smp_load_acquire(&r->head);
	rx_blocked = false;
	while (tail != head) {
		s = slot(r, tail);
		spin_lock_bh(&ports_lock);
		if (READ_ONCE(s->seq) != tail || READ_ONCE(s->len) > ORTHROS_MSG_DATA) {
			corrupt++;
			pr_err_ratelimited("message %llu: slot holds count %llu, length %u: skipped\n",
					   tail, READ_ONCE(s->seq), READ_ONCE(s->len));
		} else {
			p = find_port(READ_ONCE(s->port));
			if (p && kfifo_is_full(&p->fifo)) {
				rx_blocked = true;
				spin_unlock_bh(&ports_lock);
				break;
			}
			if (p) {
				kfifo_put(&p->fifo, *s);
				wake_up_interruptible(&p->wq);
			} else {
				dropped++;
				pr_warn_ratelimited("message to port %u, which nobody has bound: dropped\n",
						    READ_ONCE(s->port));
			}
		}
		spin_unlock_bh(&ports_lock);
		tail++;
		/* the slot is copied before the producer may reuse it */
		smp_store_release(&r->tail, tail);
		if (tail == head)
			head = smp_load_acquire(&r->head);	/* as above */
	}
	/* tail is published before producer_waiting is read: pairs with the producer's */
	smp_mb();
	if (READ_ONCE(r->producer_waiting)) {
		WRITE_ONCE(r->producer_waiting, 0);
		more = true;
	}
	mutex_unlock(&rx_lock);
	if (more && !peer_apic(&apic))
		orthros_send_ipi(apic);
}

void orthros_chan_poll(void)
{
	if (!orthros_shm)
		return;
	if (ring_ok(rx_ring()) && READ_ONCE(rx_ring()->head) != READ_ONCE(rx_ring()->tail))
		schedule_work(&rx_work);
	wake_up_all(&tx_wq);
}

static bool tx_room(struct orthros_shm_ring *r)
{
	return READ_ONCE(r->head) - READ_ONCE(r->tail) < ORTHROS_RING_SLOTS;
}

static void doorbell(struct orthros_shm_ring *r, u32 apic)
{
	WRITE_ONCE(r->doorbells, r->doorbells + 1);
	orthros_send_ipi(apic);
}

static ssize_t chan_write(struct file *f, const char __user *buf, size_t count, loff_t *pos)
{
	struct port *me = f->private_data;
	struct orthros_shm_ring *r;
	struct orthros_msg m;
	size_t done = 0;
	u32 apic, n = 0;
	int err;

	if (!me)
		return -ENOTCONN;
	if (count % sizeof(m))
		return -EINVAL;
	err = peer_apic(&apic);
	if (err)
		return err;
	if (mutex_lock_interruptible(&tx_lock))
		return -ERESTARTSYS;
	r = tx_ring();
	while (done < count) {
		if (!ring_ok(r)) {
			err = -EIO;
			break;
		}
		if (copy_from_user(&m, buf + done, sizeof(m))) {
			err = -EFAULT;
			break;
		}
		if (m.len > ORTHROS_MSG_DATA || !m.port) {
			err = -EINVAL;
			break;
		}
		while (!tx_room(r)) {
			WRITE_ONCE(r->producer_waiting, 1);
			/* flag before re-reading tail: pairs with the consumer's */
			smp_mb();
			if (tx_room(r))
				break;
			doorbell(r, apic);
			err = wait_event_interruptible_timeout(tx_wq, tx_room(r), HZ / 10);
			if (err < 0)
				break;
			err = peer_apic(&apic);
			if (err)
				break;
		}
		if (err < 0)
			break;
		err = 0;
		m.src_port = me->port;
		m.seq = r->head;
		memcpy(slot(r, m.seq), &m, offsetof(struct orthros_msg, data) + m.len);
		/* the slot is filled before the consumer can see it */
		smp_store_release(&r->head, m.seq + 1);
		done += sizeof(m);
		if (++n % DOORBELL_EVERY == 0)
			doorbell(r, apic);
	}
	if (n % DOORBELL_EVERY)
		doorbell(r, apic);
	mutex_unlock(&tx_lock);
	return done ? done : err;
}

static ssize_t chan_read(struct file *f, char __user *buf, size_t count, loff_t *pos)
{
	struct port *p = f->private_data;
	unsigned int copied;
	int err;

	if (!p)
		return -ENOTCONN;
	if (count < sizeof(struct orthros_msg))
		return -EINVAL;
	count -= count % sizeof(struct orthros_msg);
	if (mutex_lock_interruptible(&p->read_lock))
		return -ERESTARTSYS;
	while (kfifo_is_empty(&p->fifo)) {
		if (f->f_flags & O_NONBLOCK) {
			mutex_unlock(&p->read_lock);
			return -EAGAIN;
		}
		if (wait_event_interruptible(p->wq, !kfifo_is_empty(&p->fifo))) {
			mutex_unlock(&p->read_lock);
			return -ERESTARTSYS;
		}
	}
	err = kfifo_to_user(&p->fifo, buf, count, &copied);
	mutex_unlock(&p->read_lock);
	if (READ_ONCE(rx_blocked))
		schedule_work(&rx_work);
	return err ? err : copied;
}

static __poll_t chan_poll(struct file *f, poll_table *wait)
{
	struct port *p = f->private_data;

	if (!p)
		return EPOLLERR;
	poll_wait(f, &p->wq, wait);
	return kfifo_is_empty(&p->fifo) ? EPOLLOUT : EPOLLIN | EPOLLRDNORM | EPOLLOUT;
}

static long chan_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct port *p;
	u32 nr;
	int err;

	if (cmd != ORTHROS_CHAN_BIND)
		return -ENOTTY;
	if (get_user(nr, (u32 __user *)arg))
		return -EFAULT;
	if (f->private_data)
		return -EISCONN;
	if (!orthros_shm)
		return -ENODEV;
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	err = kfifo_alloc(&p->fifo, PORT_QUEUE, GFP_KERNEL);
	if (err) {
		kfree(p);
		return err;
	}
	mutex_init(&p->read_lock);
	init_waitqueue_head(&p->wq);
	spin_lock_bh(&ports_lock);
	if (!nr) {
		while (find_port(next_port))
			next_port = next_port >= 65535 ? 1024 : next_port + 1;
		nr = next_port++;
	} else if (find_port(nr)) {
		spin_unlock_bh(&ports_lock);
		kfifo_free(&p->fifo);
		kfree(p);
		return -EADDRINUSE;
	}
	p->port = nr;
	list_add(&p->node, &ports);
	f->private_data = p;
	spin_unlock_bh(&ports_lock);
	/* messages may wait for this port */
	schedule_work(&rx_work);
	return put_user(nr, (u32 __user *)arg);
}

static int chan_open(struct inode *inode, struct file *f)
{
	/* misc_open() left the miscdevice here: a file has no port until bound */
	f->private_data = NULL;
	return 0;
}

static int chan_release(struct inode *inode, struct file *f)
{
	struct port *p = f->private_data;

	if (!p)
		return 0;
	spin_lock_bh(&ports_lock);
	list_del(&p->node);
	spin_unlock_bh(&ports_lock);
	kfifo_free(&p->fifo);
	kfree(p);
	return 0;
}

static const struct file_operations chan_fops = {
	.owner		= THIS_MODULE,
	.open		= chan_open,
	.read		= chan_read,
	.write		= chan_write,
	.poll		= chan_poll,
	.unlocked_ioctl	= chan_ioctl,
	.release	= chan_release,
};

static struct miscdevice chan_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "orthros-chan",
	.fops	= &chan_fops,
	.mode	= 0600,
};

static void chan_ipi(void)
{
	orthros_chan_poll();
}

static int __init orthros_chan_init(void)
{
	if (orthros_role() == ORTHROS_ROLE_NONE)
		return 0;
	INIT_WORK(&rx_work, rx);
	orthros_ipi_register(chan_ipi);
	return misc_register(&chan_dev);
}
device_initcall(orthros_chan_init);
