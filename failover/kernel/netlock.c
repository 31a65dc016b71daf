// SPDX-License-Identifier: GPL-2.0
/*
 * The network lock of a failover: from the moment this backup declares the
 * active dead until the protected processes are restored, every IPv4 packet
 * that arrives on a device other than loopback is held before the stack
 * sees it, and delivered, in the order it came, when the lock is released.
 * A protected connection's socket does not exist here until criu has
 * rebuilt it: a packet for it let in earlier would get a reset from a
 * kernel that does not know the connection, and a packet dropped would be
 * a loss the peer repairs only on its retransmission timer, backing off
 * (TCP doubles it each time: a peer that retransmitted into the lock waited
 * up to twice the failover's time), or never (a UDP datagram).  criu's own
 * network lock drops, with iptables rules around a restore; here it is a
 * netfilter hook in the kernel that takes over, engaged before the dead
 * OS's NIC is even taken, and it holds.
 *
 * What it holds is bounded (NETLOCK_MAX_PACKETS, NETLOCK_MAX_BYTES of
 * buffer): past that a packet is dropped and counted.  orthros_netlock=drop
 * drops every packet, as before (the control of the tests).
 *
 * Released by `orthros failover netunlock` (the failover script, after the
 * restore) and, whatever happens, when the failover is marked done or fails.
 */
#define pr_fmt(fmt) "orthros: " fmt

#include <linux/init.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <net/net_namespace.h>

#include "netlock.h"

#define NETLOCK_MAX_PACKETS	8192
#define NETLOCK_MAX_BYTES	(16 << 20)	/* the held skbs' truesize */

static bool drop_all;

static int __init parse_netlock(char *arg)
{
	drop_all = arg && !strcmp(arg, "drop");
	return 0;
}
early_param("orthros_netlock", parse_netlock);

/* held's lock guards locked and the counts with the queue */
static struct sk_buff_head held;
static bool locked;
static unsigned long held_bytes;
static struct orthros_netlock_counts counts;

static unsigned int netlock_hook(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	unsigned int verdict = NF_STOLEN;

	if (state->in && (state->in->flags & IFF_LOOPBACK))
		return NF_ACCEPT;
	spin_lock_bh(&held.lock);
	if (!locked) {
		verdict = NF_ACCEPT;
	} else if (drop_all || skb_queue_len(&held) >= NETLOCK_MAX_PACKETS ||
		   held_bytes + skb->truesize > NETLOCK_MAX_BYTES || !skb->dev) {
		counts.dropped++;
		verdict = NF_DROP;
	} else {
		/* the device stays while its packet waits (its receive path needs it) */
		dev_hold(skb->dev);
		held_bytes += skb->truesize;
		__skb_queue_tail(&held, skb);
		counts.held++;
	}
	spin_unlock_bh(&held.lock);
	return verdict;
}

static const struct nf_hook_ops netlock_ops = {
	.hook = netlock_hook,
	.pf = NFPROTO_IPV4,
	.hooknum = NF_INET_PRE_ROUTING,
	.priority = NF_IP_PRI_FIRST,
};

static bool registered;

int orthros_netlock_engage(void)
{
	int err = 0;

	if (!registered) {
		skb_queue_head_init(&held);
		err = nf_register_net_hook(&init_net, &netlock_ops);
		if (err) {
			pr_err("network lock: cannot register its hook: %d\n", err);
			return err;
		}
		registered = true;
	}
	spin_lock_bh(&held.lock);
	memset(&counts, 0, sizeof(counts));
	WRITE_ONCE(locked, true);
	spin_unlock_bh(&held.lock);
	if (drop_all)
		pr_info("network lock: inbound packets are dropped, not held (orthros_netlock=drop)\n");
	return 0;
}

/*
 * Let the packets in again: the held ones, in the order they came, each
 * through the device's receive path again (netif_receive_skb(): the IPv4
 * stack sees it from the start, the hook lets it through; not netif_rx(),
 * whose backlog takes netdev_max_backlog packets at a time and drops the
 * rest).  A packet that arrives meanwhile goes straight in and may pass
 * some of them (TCP puts a stream back in order).
 */
void orthros_netlock_release(struct orthros_netlock_counts *c)
{
	struct sk_buff_head q;
	struct sk_buff *skb;
	u64 delivered = 0;

	memset(c, 0, sizeof(*c));
	if (!registered)
		return;
	__skb_queue_head_init(&q);
	spin_lock_bh(&held.lock);
	if (!locked) {
		*c = counts;
		spin_unlock_bh(&held.lock);
		return;
	}
	WRITE_ONCE(locked, false);
	skb_queue_splice_init(&held, &q);
	held_bytes = 0;
	spin_unlock_bh(&held.lock);
	while ((skb = __skb_dequeue(&q))) {
		struct net_device *dev = skb->dev;

		local_bh_disable();
		netif_receive_skb(skb);
		local_bh_enable();
		dev_put(dev);
		delivered++;
		cond_resched();
	}
	spin_lock_bh(&held.lock);
	counts.delivered += delivered;
	*c = counts;
	spin_unlock_bh(&held.lock);
	pr_info("network lock released: %llu packets held and delivered, %llu dropped\n",
		c->delivered, c->dropped);
}

bool orthros_netlock_engaged(struct orthros_netlock_counts *c)
{
	bool l;

	if (!registered) {
		memset(c, 0, sizeof(*c));
		return false;
	}
	spin_lock_bh(&held.lock);
	*c = counts;
	l = locked;
	spin_unlock_bh(&held.lock);
	return l;
}
