// Loaded with `node --import <this file>` into every Node process the process-kubelet starts:
// in-cluster DNS names and pod IP aliases then work without touching the machine's resolver.
import { installClusterNetwork } from './pod-network.ts';

installClusterNetwork(process.env['KVSTORE_CLUSTER_HOSTS'], process.env['KVSTORE_POD_LOOPBACK_IP']);
