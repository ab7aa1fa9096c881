/**
 * Every key of Kolla-Ansible's etc/kolla/passwords.yml, with the kind of
 * value `kolla-genpwd` puts there (kolla_ansible/cmd/genpwd.py: uuid keys,
 * SSH key pairs, HMAC-MD5 hex, Fernet keys, bcrypt salts, else 40 random
 * letters/digits). Sources (the union, for the same reason as the inventory
 * tree: a missing key fails a play, an unused one costs nothing):
 *   - openstack/kolla-ansible etc/kolla/passwords.yml and genpwd.py @ 1276a4338402ae4c2f2dc2565f67760aebd6c8fe
 *     (unmaintained/2024.1, the release kseed names: the swift keys)
 *   - openstack/kolla-ansible etc/kolla/passwords.yml @ 86c732dfabeb8cc9b116da758b3c55eb5d8a2b43 (master after 2024.2)
 *   - amarce/kolla-ansible etc/kolla/passwords.yml @ 25d8d140f713d2ff341de1d8fd319c9aba555e20 (2024.1-era:
 *     venus, redis, ironic_inspector, vmware; its fork-only ceph_backend_secrets map is left out)
 * test/fixtures/handoff/kolla-passwords-keys.txt holds the same list for the tests.
 */
export type PasswordKind = 'password' | 'uuid' | 'ssh' | 'hmac-md5' | 'fernet' | 'bcrypt-salt' | 'registry';

const UUID = new Set(['rbd_secret_uuid', 'cinder_rbd_secret_uuid', 'gnocchi_project_id', 'gnocchi_resource_id', 'gnocchi_user_id', 'designate_pool_id']);
const HMAC = new Set(['designate_rndc_key', 'osprofiler_secret']);
const FERNET = new Set(['barbican_crypto_key']);
/** genpwd's bcrypt_keys: Kolla's prometheus precheck asserts a length of 22. */
const BCRYPT = new Set(['prometheus_bcrypt_salt']);

export const KOLLA_SSH_KEYS = [
  'nova_ssh_key',
  'kolla_ssh_key',
  'keystone_ssh_key',
  'bifrost_ssh_key',
  'octavia_amp_ssh_key',
  'neutron_ssh_key',
  'haproxy_ssh_key',
] as const;

const KEYS = `
rbd_secret_uuid cinder_rbd_secret_uuid
database_password mariadb_backup_database_password mariadb_monitor_password
docker_registry_password
vmware_dvs_host_password vmware_nsxv_password vmware_vcenter_host_password nsxv3_api_password
vmware_nsxp_api_password vmware_nsxp_metadata_proxy_shared_secret
hnas_nfs_password infoblox_admin_password
aodh_database_password aodh_keystone_password
barbican_database_password barbican_keystone_password barbican_p11_password barbican_crypto_key
blazar_database_password blazar_keystone_password
keystone_admin_password keystone_database_password
grafana_database_password grafana_admin_password
glance_database_password glance_keystone_password
gnocchi_database_password gnocchi_keystone_password
kuryr_keystone_password
nova_database_password nova_api_database_password nova_keystone_password
placement_keystone_password placement_database_password
neutron_database_password neutron_keystone_password metadata_secret
cinder_database_password cinder_keystone_password
cloudkitty_database_password cloudkitty_keystone_password
cyborg_database_password cyborg_keystone_password
designate_database_password designate_keystone_password designate_pool_id designate_rndc_key
heat_database_password heat_keystone_password heat_domain_admin_password
ironic_database_password ironic_keystone_password
ironic_inspector_database_password ironic_inspector_keystone_password
magnum_database_password magnum_keystone_password
mistral_database_password mistral_keystone_password
trove_database_password trove_keystone_password
ceilometer_database_password ceilometer_keystone_password
watcher_database_password watcher_keystone_password
horizon_secret_key horizon_database_password
telemetry_secret_key
ceilometer_mongodb_password
manila_database_password manila_keystone_password
octavia_database_password octavia_persistence_database_password octavia_keystone_password octavia_ca_password octavia_client_ca_password
tacker_database_password tacker_keystone_password
zun_database_password zun_keystone_password
venus_database_password venus_keystone_password
masakari_database_password masakari_keystone_password
memcache_secret_key
skyline_secret_key skyline_database_password skyline_keystone_password
osprofiler_secret
nova_ssh_key kolla_ssh_key keystone_ssh_key bifrost_ssh_key octavia_amp_ssh_key neutron_ssh_key haproxy_ssh_key
gnocchi_project_id gnocchi_resource_id gnocchi_user_id
rabbitmq_password rabbitmq_monitoring_password rabbitmq_cluster_cookie
haproxy_password keepalived_password
etcd_cluster_token
valkey_master_password redis_master_password
prometheus_mysql_exporter_database_password prometheus_alertmanager_password prometheus_password
prometheus_grafana_password prometheus_haproxy_password prometheus_skyline_password prometheus_bcrypt_salt
keystone_federation_openid_crypto_password
ceph_rgw_keystone_password
libvirt_sasl_password
proxysql_admin_password proxysql_stats_password
opensearch_dashboards_password
swift_keystone_password swift_hash_path_suffix swift_hash_path_prefix
`;

export const KOLLA_PASSWORD_KEYS: readonly string[] = KEYS.trim().split(/\s+/);

export function passwordKind(key: string): PasswordKind {
  if ((KOLLA_SSH_KEYS as readonly string[]).includes(key)) return 'ssh';
  if (UUID.has(key)) return 'uuid';
  if (HMAC.has(key)) return 'hmac-md5';
  if (FERNET.has(key)) return 'fernet';
  if (BCRYPT.has(key)) return 'bcrypt-salt';
  // kolla-genpwd leaves it blank; kseed knows the seed registry's password
  if (key === 'docker_registry_password') return 'registry';
  return 'password';
}
