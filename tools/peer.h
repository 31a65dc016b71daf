/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ORTHROS_PEER_H
#define ORTHROS_PEER_H

int peer_exec(int argc, char **argv);
int peer_agent(void);
int peer_msg(int argc, char **argv);

#endif
