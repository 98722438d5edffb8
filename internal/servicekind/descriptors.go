package servicekind

// descriptors is the registry: every kind this build of aegir has a
// driver for, built fresh on each call so callers cannot change it.
func descriptors() []Descriptor {
	return []Descriptor{builtin(), nginx(), mariadb(), postgresql(), sqlite()}
}

func builtin() Descriptor {
	return Descriptor{
		Kind: Builtin, Type: HTTP,
		Summary:     "aegir's own web server (aegir serve-web): static files, PHP over FastCGI, reverse proxy",
		DefaultPort: 80,
		// builtinweb serves .php through FastCGI when a site's platform
		// runs PHP.
		Capabilities: []Capability{PHPFastCGI},
		Settings: []Setting{
			{Key: "php_fastcgi", Meaning: "the PHP FastCGI upstream, unix:/path.sock or host:port", Validate: FastCGIAddr},
			{Key: "https_port", Meaning: "the port where the server serves HTTPS (aegir's tls sites_addr), for a router in front to pass TLS through to", Default: "443", Validate: IntRange(1, 65535)},
		},
	}
}

func nginx() Descriptor {
	return Descriptor{
		Kind: Nginx, Type: HTTP,
		Summary:      "nginx with php-fpm; one vhost file per site, tested with nginx -t before each reload",
		DefaultPort:  80,
		Capabilities: []Capability{PHPFastCGI, SiteUsers},
		Settings: []Setting{
			{Key: "config_dir", Meaning: "the directory of the vhost files, included by main_config as <config_dir>/*.conf", Required: true, Validate: AbsPath},
			{Key: "main_config", Meaning: "the nginx.conf passed to nginx -t and nginx -s reload", Required: true, Validate: AbsPath},
			{Key: "binary", Meaning: "the nginx executable (named nginx)", Default: "nginx, on PATH or in /usr/sbin", Validate: ProgramNamed("nginx")},
			{Key: "pid_file", Meaning: "the master's pid file; reloads then wait for the new workers", Validate: AbsPath},
			{Key: "php_fastcgi", Meaning: "the PHP FastCGI upstream, unix:/path.sock or host:port", Validate: FastCGIAddr},
			{Key: "web_group", Meaning: "the group nginx's workers and php-fpm's pool run as; sites' files are readable through it", Default: "www-data", Validate: UnixName},
			{Key: "php_pool_dir", Meaning: "the directory of php-fpm's pool files (included by php_fpm_config); when set and sites have their own users, each PHP site gets its own pool, running as the site's user", Default: "none: every site uses php_fastcgi", Validate: AbsPath},
			{Key: "php_fpm_config", Meaning: "php-fpm's main config, which includes <php_pool_dir>/*.conf; passed to php-fpm -t before each reload (required with php_pool_dir)", Validate: AbsPath},
			{Key: "php_fpm_binary", Meaning: "the php-fpm executable (named php-fpm or php-fpmX.Y)", Default: "php-fpm, else the newest php-fpmX.Y in /usr/sbin", Validate: ProgramPrefixed("php-fpm")},
			{Key: "php_fpm_pid_file", Meaning: "php-fpm's master pid file; pools are reloaded with SIGUSR2 to it (required with php_pool_dir)", Validate: AbsPath},
			{Key: "php_run_dir", Meaning: "where the sites' pool sockets are made (<dir>/aegir-<domain>.sock); nginx's workers must be able to enter it", Default: "/run/php", Validate: AbsPath},
			{Key: "php_tmp_dir", Meaning: "the parent of each site's own temporary directory (<dir>/<domain>, the site's, 0700): uploads, sessions, sys_temp_dir", Default: "/var/tmp/aegir-php", Validate: AbsPath},
			{Key: "php_memory_limit", Meaning: "memory_limit of each site's pool, in MiB (16 to 4096)", Default: "256", Validate: IntRange(PHPMemoryMinMB, PHPMemoryMaxMB)},
			{Key: "php_upload_max", Meaning: "upload_max_filesize and post_max_size of each site's pool, in MiB (1 to 2048)", Default: "64", Validate: IntRange(PHPUploadMinMB, PHPUploadMaxMB)},
			{Key: "php_max_children", Meaning: "pm.max_children of each site's pool (ondemand: idle sites run no worker), 1 to 64", Default: "5", Validate: IntRange(PHPChildrenMin, PHPChildrenMax)},
			{Key: "https_port", Meaning: "the port the vhosts of sites with HTTPS listen on (ssl)", Default: "443", Validate: IntRange(1, 65535)},
			{Key: "cert_dir", Meaning: "where each HTTPS site's <domain>.crt and <domain>.key are written, mode 0600", Default: "<config_dir>/tls", Validate: AbsPath},
		},
	}
}

func mariadb() Descriptor {
	return Descriptor{
		Kind: MariaDB, Type: DB,
		Summary:      "MariaDB (or MySQL): a database and a user per site",
		DefaultPort:  3306,
		Capabilities: []Capability{AdminCredentials, DumpLoad, DynamicCredentials},
		Settings: []Setting{
			{Key: "host", Meaning: "where aegir and sites reach the server", Default: "the server's address", Validate: Host},
			{Key: "socket", Meaning: "a unix socket aegir connects through instead of TCP", Validate: AbsPath},
			{Key: "user_hosts", Meaning: "comma-separated host parts of each site's account, where its web server connects from as the database server sees it; never a wildcard",
				Default: "localhost, 127.0.0.1 and ::1 when the web server is the database server or reaches it over loopback, else the web server's address", Validate: HostList},
			{Key: "dump_binary", Meaning: "the dump program (named mariadb-dump or mysqldump)", Default: "mariadb-dump, else mysqldump", Validate: ProgramNamed("mariadb-dump", "mysqldump")},
			{Key: "client_binary", Meaning: "the client program that loads dumps (named mariadb or mysql)", Default: "mariadb, else mysql", Validate: ProgramNamed("mariadb", "mysql")},
		},
		// A throwaway user, only from where the back end (on the site's
		// web server) connects, with SELECT, SHOW VIEW, TRIGGER, LOCK
		// TABLES and EVENT on the site's database: what mariadb-dump
		// needs, no writes. Revocation drops the user.
		Vault: &VaultDB{
			Plugin: "mysql-database-plugin",
			Creation: []string{
				`CREATE USER '{{name}}'@'{{client_host}}' IDENTIFIED BY '{{password}}';`,
				"GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON `{{database}}`.* TO '{{name}}'@'{{client_host}}';",
			},
			Revocation: []string{`DROP USER IF EXISTS '{{name}}'@'{{client_host}}';`},
		},
		DrupalDriver: "mysql",
	}
}

func postgresql() Descriptor {
	return Descriptor{
		Kind: PostgreSQL, Type: DB,
		Summary:      "PostgreSQL: a database owned by a role per site",
		DefaultPort:  5432,
		Capabilities: []Capability{AdminCredentials, DumpLoad, DynamicCredentials},
		Settings: []Setting{
			{Key: "host", Meaning: "where aegir and sites reach the server", Default: "the server's address", Validate: Host},
			{Key: "socket_dir", Meaning: "the directory of the server's unix socket, used instead of TCP", Validate: AbsPath},
			{Key: "admin_database", Meaning: "the database aegir (and Vault) connect to as admin", Default: "postgres"},
			{Key: "sslmode", Meaning: "libpq's sslmode", Default: "prefer (Vault: disable on loopback, else require)",
				Validate: OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full")},
			{Key: "bin_dir", Meaning: "the directory of pg_dump and psql", Default: "PATH", Validate: AbsPath},
		},
		// A throwaway user is a LOGIN role valid until the lease ends,
		// member (INHERIT) of the site's role, which owns the site's
		// database, so it can pg_dump it and connect nowhere CONNECT is
		// revoked from PUBLIC. Revocation ends its sessions and drops it.
		Vault: &VaultDB{
			Plugin: "postgresql-database-plugin",
			Creation: []string{
				`CREATE ROLE "{{name}}" WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE "{{database}}";`,
			},
			Revocation: []string{
				`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';`,
				`DROP ROLE IF EXISTS "{{name}}";`,
			},
		},
		DrupalDriver: "pgsql",
	}
}

func sqlite() Descriptor {
	return Descriptor{
		Kind: SQLite, Type: DB,
		Summary:      "SQLite files on the web server; no database server, no credentials",
		Capabilities: []Capability{DumpLoad},
		Settings: []Setting{
			{Key: "dir", Meaning: "the directory of the database files", Default: "<data dir>/sqlite", Validate: AbsPath},
		},
		DrupalDriver: "sqlite",
	}
}
