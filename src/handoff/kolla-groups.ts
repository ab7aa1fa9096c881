/**
 * Kolla-Ansible's inventory group tree, as data: which groups each service
 * group is made of. Derived (not copied) from the `multinode` sample
 * inventory Kolla-Ansible ships, as the union of three versions:
 *   - openstack/kolla-ansible ansible/inventory/multinode @ 1276a4338402ae4c2f2dc2565f67760aebd6c8fe
 *     (unmaintained/2024.1, the release kseed names: swift, prometheus-msteams)
 *   - openstack/kolla-ansible ansible/inventory/multinode @ 86c732dfabeb8cc9b116da758b3c55eb5d8a2b43
 *     (master after 2024.2: valkey, ovn-sb-db-relay, ironic-dnsmasq, nova-metadata)
 *   - Jax0303/kolla-ansible ansible/inventory/multinode @ 490228601f246cc4ea278a581384cdde1bb38408
 *     (a 2024.1-era tree: redis, venus, ironic-inspector; its own appended
 *     ceph-* host groups are not Kolla's and are left out)
 * Why a union: a play whose group is missing from the inventory fails, a
 * group no play uses costs nothing, so one tree serves 2024.1 through master.
 * The top-level role groups (control, network, compute, storage, monitoring,
 * deployment) hold the hosts; everything below is `[group:children]`.
 */
export const ROLE_GROUPS = ['control', 'network', 'compute', 'storage', 'monitoring', 'deployment'] as const;

// "group: child child ..." in the sample's order; parsed once below.
const TREE = `
baremetal: control network compute storage monitoring
tls-backend: control network
common: control network compute storage monitoring
collectd: compute
grafana: monitoring
etcd: control
influxdb: monitoring
prometheus: monitoring
telegraf: compute control monitoring network storage
hacluster: control
hacluster-remote: compute
loadbalancer: network
mariadb: control
rabbitmq: control
keystone: control
glance: control
nova: control
neutron: network
openvswitch: network compute manila-share
cinder: control
cloudkitty: control
memcached: control
horizon: control
barbican: control
heat: control
ironic: control
magnum: control
mistral: control
manila: control
ceilometer: control
aodh: control
cyborg: control compute
gnocchi: control
tacker: control
trove: control
watcher: control
octavia: control
designate: control
placement: control
bifrost: deployment
zun: control
skyline: control
redis: control
valkey: control
blazar: control
venus: monitoring
swift: control
letsencrypt: loadbalancer
cron: common
fluentd: common
kolla-logs: common
kolla-toolbox: common
opensearch: control
opensearch-dashboards: opensearch
glance-api: glance
nova-api: nova
nova-conductor: nova
nova-metadata: nova
nova-super-conductor: nova
nova-novncproxy: nova
nova-scheduler: nova
nova-spicehtml5proxy: nova
nova-compute-ironic: nova
nova-serialproxy: nova
ironic-neutron-agent: neutron
neutron-bgp-dragent: neutron
neutron-dhcp-agent: neutron
neutron-infoblox-ipam-agent: neutron
neutron-l3-agent: neutron
neutron-metadata-agent: neutron
neutron-metering-agent: neutron
neutron-periodic-worker: control
neutron-rpc-server: control
neutron-server: control
neutron-ovn-agent: compute network
neutron-ovn-maintenance-worker: control
neutron-ovn-metadata-agent: compute network
cinder-api: cinder
cinder-backup: storage
cinder-scheduler: cinder
cinder-volume: storage
cloudkitty-api: cloudkitty
cloudkitty-processor: cloudkitty
iscsid: compute storage ironic
tgtd: storage
manila-api: manila
manila-scheduler: manila
manila-share: network
manila-data: manila
barbican-api: barbican
barbican-keystone-listener: barbican
barbican-worker: barbican
heat-api: heat
heat-api-cfn: heat
heat-engine: heat
ironic-api: ironic
ironic-conductor: ironic
ironic-inspector: ironic
ironic-dnsmasq: ironic
ironic-tftp: ironic
ironic-http: ironic
magnum-api: magnum
magnum-conductor: magnum
mistral-api: mistral
mistral-executor: mistral
mistral-engine: mistral
mistral-event-engine: mistral
ceilometer-central: ceilometer
ceilometer-notification: ceilometer
ceilometer-compute: compute
ceilometer-ipmi: compute
aodh-api: aodh
aodh-evaluator: aodh
aodh-listener: aodh
aodh-notifier: aodh
cyborg-api: cyborg
cyborg-agent: compute
cyborg-conductor: cyborg
gnocchi-api: gnocchi
gnocchi-statsd: gnocchi
gnocchi-metricd: gnocchi
trove-api: trove
trove-conductor: trove
trove-taskmanager: trove
multipathd: compute storage
watcher-api: watcher
watcher-engine: watcher
watcher-applier: watcher
octavia-api: octavia
octavia-driver-agent: octavia
octavia-health-manager: octavia
octavia-housekeeping: octavia
octavia-worker: octavia
designate-api: designate
designate-central: designate
designate-producer: designate
designate-mdns: network
designate-worker: designate
designate-sink: designate
designate-backend-bind9: designate
placement-api: placement
swift-proxy-server: swift
swift-account-server: storage
swift-container-server: storage
swift-object-server: storage
zun-api: zun
zun-wsproxy: zun
zun-compute: compute
zun-cni-daemon: compute
skyline-apiserver: skyline
skyline-console: skyline
tacker-server: tacker
tacker-conductor: tacker
blazar-api: blazar
blazar-manager: blazar
prometheus-node-exporter: monitoring control compute network storage
prometheus-mysqld-exporter: mariadb
prometheus-memcached-exporter: memcached
prometheus-cadvisor: monitoring control compute network storage
prometheus-alertmanager: monitoring
prometheus-openstack-exporter: monitoring
prometheus-elasticsearch-exporter: opensearch
prometheus-blackbox-exporter: monitoring
prometheus-libvirt-exporter: compute
prometheus-msteams: prometheus-alertmanager
masakari-api: control
masakari-engine: control
masakari-hostmonitor: control
masakari-instancemonitor: compute
ovn-controller: ovn-controller-compute ovn-controller-network
ovn-controller-compute: compute
ovn-controller-network: network
ovn-database: control
ovn-northd: ovn-database
ovn-nb-db: ovn-database
ovn-sb-db: ovn-database
ovn-sb-db-relay: ovn-database
venus-api: venus
venus-manager: venus
letsencrypt-webserver: letsencrypt
letsencrypt-lego: letsencrypt
`;

export interface ChildGroup {
  name: string;
  children: string[];
}

export const KOLLA_CHILD_GROUPS: readonly ChildGroup[] = TREE.trim()
  .split('\n')
  .map((line) => {
    const [name, rest] = line.split(':') as [string, string];
    return { name: name.trim(), children: rest.trim().split(/\s+/) };
  });

/** The hosts a group resolves to, given the hosts of each role group. */
export function resolveGroup(group: string, roleHosts: Record<string, string[]>, seen: Set<string> = new Set()): string[] {
  // per-path cycle guard: the tree is a DAG, a group reached twice is fine
  if (seen.has(group)) return [];
  if (roleHosts[group]) return [...roleHosts[group]];
  const def = KOLLA_CHILD_GROUPS.find((g) => g.name === group);
  if (!def) return [];
  const path = new Set(seen).add(group);
  return [...new Set(def.children.flatMap((c) => resolveGroup(c, roleHosts, path)))];
}
