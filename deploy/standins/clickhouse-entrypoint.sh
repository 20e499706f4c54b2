#!/bin/bash
# Debian's ClickHouse 18.16 configured the way compose.yaml configures the official image:
# listening on all interfaces, data in /var/lib/clickhouse (the volume), and CLICKHOUSE_USER
# with CLICKHOUSE_PASSWORD (the official image's variables) as a user with that password.
# The `default` user answers on loopback only, without a password (the health check).
set -euo pipefail
conf=/etc/clickhouse-server/standin
mkdir -p "$conf"
cat >"$conf/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>8123</http_port>
    <tcp_port>9000</tcp_port>
    <listen_host>0.0.0.0</listen_host>
    <path>/var/lib/clickhouse/</path>
    <tmp_path>/var/lib/clickhouse/tmp/</tmp_path>
    <user_files_path>/var/lib/clickhouse/user_files/</user_files_path>
    <format_schema_path>/var/lib/clickhouse/format_schemas/</format_schema_path>
    <users_config>$conf/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>200</max_concurrent_queries>
</yandex>
XML
user="${CLICKHOUSE_USER:-}"
user_xml=""
if [[ -n "$user" && "$user" != default ]]; then
  # 18.16 has no SQL user management: the user is configuration.
  hash="$(printf '%s' "${CLICKHOUSE_PASSWORD:-}" | sha256sum | cut -d' ' -f1)"
  user_xml="<$user><password_sha256_hex>$hash</password_sha256_hex><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></$user>"
fi
cat >"$conf/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><load_balancing>random</load_balancing></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        $user_xml
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
XML
chown -R clickhouse:clickhouse /var/lib/clickhouse "$conf"
exec setpriv --reuid=clickhouse --regid=clickhouse --init-groups \
  clickhouse-server --config-file="$conf/config.xml"
