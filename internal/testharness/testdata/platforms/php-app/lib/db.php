<?php
// Shared by the web front controller and the hooks: finds the site's
// directory and opens its database from settings.json.
//
// settings.json (written by aegir at install, mode 0640):
//   {"driver": "mysql"|"mariadb"|"pgsql"|"postgresql"|"sqlite",
//    "host": "127.0.0.1", "port": 3306, "socket": "", "name": "s_...",
//    "user": "s_...", "password": "...", "path": "/abs/file.db"}

declare(strict_types=1);

function aegir_site_dir(): string
{
    $dir = $_SERVER['AEGIR_SITE_DIR'] ?? getenv('AEGIR_SITE_DIR');
    if (!is_string($dir) || $dir === '') {
        throw new RuntimeException('AEGIR_SITE_DIR is not set: run through aegir');
    }
    return $dir;
}

function aegir_settings(): array
{
    $file = $_SERVER['AEGIR_SETTINGS'] ?? getenv('AEGIR_SETTINGS');
    if (!is_string($file) || $file === '') {
        $file = aegir_site_dir() . '/settings.json';
    }
    $raw = @file_get_contents($file);
    if ($raw === false) {
        throw new RuntimeException("cannot read $file");
    }
    $s = json_decode($raw, true);
    if (!is_array($s)) {
        throw new RuntimeException("$file is not a JSON object");
    }
    return $s;
}

function aegir_driver(array $s): string
{
    $d = strtolower((string)($s['driver'] ?? ''));
    switch ($d) {
        case 'mysql':
        case 'mariadb':
            return 'mysql';
        case 'pgsql':
        case 'postgres':
        case 'postgresql':
            return 'pgsql';
        case 'sqlite':
        case 'sqlite3':
            return 'sqlite';
    }
    throw new RuntimeException("unknown database driver '$d' in settings.json");
}

function aegir_db(): PDO
{
    $s = aegir_settings();
    $driver = aegir_driver($s);
    $name = (string)($s['name'] ?? $s['database'] ?? '');
    $user = (string)($s['user'] ?? $s['username'] ?? '');
    $pass = (string)($s['password'] ?? '');
    $host = (string)($s['host'] ?? '127.0.0.1');
    $port = (int)($s['port'] ?? 0);
    $socket = (string)($s['socket'] ?? '');
    switch ($driver) {
        case 'mysql':
            $dsn = $socket !== ''
                ? "mysql:unix_socket=$socket;dbname=$name;charset=utf8mb4"
                : "mysql:host=$host;port=" . ($port ?: 3306) . ";dbname=$name;charset=utf8mb4";
            break;
        case 'pgsql':
            $h = $socket !== '' ? $socket : $host;
            $dsn = "pgsql:host=$h;port=" . ($port ?: 5432) . ";dbname=$name";
            break;
        default:
            $path = (string)($s['path'] ?? '');
            if ($path === '') {
                $path = aegir_site_dir() . '/database.sqlite';
            }
            $dsn = "sqlite:$path";
            $user = null;
            $pass = null;
    }
    $pdo = new PDO($dsn, $user, $pass, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    if ($driver === 'sqlite') {
        $pdo->exec('PRAGMA busy_timeout = 5000');
    }
    return $pdo;
}

function aegir_create_schema(PDO $pdo): void
{
    switch ($pdo->getAttribute(PDO::ATTR_DRIVER_NAME)) {
        case 'mysql':
            $id = 'id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY';
            break;
        case 'pgsql':
            $id = 'id BIGSERIAL PRIMARY KEY';
            break;
        default:
            $id = 'id INTEGER PRIMARY KEY AUTOINCREMENT';
    }
    $pdo->exec("CREATE TABLE IF NOT EXISTS hits ($id, path VARCHAR(255) NOT NULL, created_at VARCHAR(32) NOT NULL)");
}

function aegir_add_hit(PDO $pdo, string $path): void
{
    $st = $pdo->prepare('INSERT INTO hits (path, created_at) VALUES (?, ?)');
    $st->execute([substr($path, 0, 255), gmdate('Y-m-d\TH:i:s\Z')]);
}

function aegir_count_hits(PDO $pdo): int
{
    return (int)$pdo->query('SELECT COUNT(*) FROM hits')->fetchColumn();
}
