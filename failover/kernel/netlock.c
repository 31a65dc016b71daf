// SPDX-License-Identifier: GPL-2.0
/*
 * The network lock of a failover: from the moment this backup declares the
 * active dead until the protected processes are restored, every IPv4 packet
 * that arrives on a device other than loopback is dropped before the stack
 * sees it.  A peer of a protected connection that retransmits while its
 * socket is being rebuilt gets no answer (it retries, as after a lost
 * packet) instead of a reset from a kernel that does not know the
 * connection yet.  This is what criu's network lock does with iptables
 * rules around a restore; here it is a netfilter hook in the kernel that
 * takes over, engaged before the dead OS's NIC is even taken.
 *
 * Released by `orthros failover netunlock` (the failover script, after the
 * restore) and, whatever happens, when the failover is marked done.
 */
#define pr_fmt(fmt) "orthros: " fmt

#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <net/net_namespace.h>

#include "netlock.h"

static bool locked;
static atomic64_t dropped;

static unsigned int netlock_hook(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	if (!READ_ONCE(locked) || (state->in && (state->in->flags & IFF_LOOPBACK)))
		return NF_ACCEPT;
	atomic64_inc(&dropped);
	return NF_DROP;
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
		err = nf_register_net_hook(&init_net, &netlock_ops);
		if (err) {
			pr_err("network lock: cannot register its hook: %d\n", err);
			return err;
		}
		registered = true;
	}
	atomic64_set(&dropped, 0);
	WRITE_ONCE(locked, true);
	return 0;
}

u64 orthros_netlock_release(void)
{
	if (!READ_ONCE(locked))
		return 0;
	WRITE_ONCE(locked, false);
	pr_info("network lock released: %lld packets held back\n",
		(long long)atomic64_read(&dropped));
	return atomic64_read(&dropped);
}

bool orthros_netlock_engaged(u64 *nr_dropped)
{
	*nr_dropped = atomic64_read(&dropped);
	return READ_ONCE(locked);
}
