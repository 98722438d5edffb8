<?php
/*
 * aegir install hook for MediaWiki: run once per site, as the site's Unix
 * user, from the platform root, after aegir created the database and wrote
 * sites/<domain>/settings.json. Runs MediaWiki's own installer
 * (maintenance/install.php) against the site's database, with passwords
 * passed in files (never on a command line) and the LocalSettings.php it
 * generates thrown away: the platform's LocalSettings.php reads each
 * site's settings itself. The admin's password is random and not kept.
 *
 * Environment (aegir's): AEGIR_SITE_DOMAIN, AEGIR_SETTINGS; MW_SITENAME
 * from the manifest's env.
 */
if (PHP_SAPI !== 'cli') {
    exit(1);
}
$domain = getenv('AEGIR_SITE_DOMAIN');
$file = getenv('AEGIR_SETTINGS');
$raw = is_string($file) && $file !== '' ? @file_get_contents($file) : false;
$db = is_string($raw) ? json_decode($raw, true) : null;
if (!is_string($domain) || $domain === '' || !is_array($db)) {
    fwrite(STDERR, "AEGIR_SITE_DOMAIN or the settings in AEGIR_SETTINGS are missing: run through aegir\n");
    exit(1);
}
$tmp = sys_get_temp_dir() . '/aegir-mw-' . bin2hex(random_bytes(8));
if (!mkdir($tmp, 0700)) {
    fwrite(STDERR, "cannot make $tmp\n");
    exit(1);
}
$clean = function () use ($tmp) {
    foreach (glob("$tmp/*") as $f) {
        unlink($f);
    }
    rmdir($tmp);
};
file_put_contents("$tmp/dbpass", (string)($db['password'] ?? ''));
file_put_contents("$tmp/pass", bin2hex(random_bytes(16)));

$args = ['--dbname', (string)$db['name'], '--dbuser', (string)$db['user'], '--dbpassfile', "$tmp/dbpass",
    '--passfile', "$tmp/pass", '--server', "http://$domain", '--scriptpath', '', '--confpath', $tmp,
    '--lang', 'en', '--skins', 'Vector'];
switch ($db['driver'] ?? '') {
    case 'pgsql':
    case 'postgres':
    case 'postgresql':
        array_push($args, '--dbtype', 'postgres', '--dbserver', (string)(($db['socket'] ?? '') ?: ($db['host'] ?? '127.0.0.1')),
            '--dbport', (string)(int)($db['port'] ?? 5432), '--dbschema', 'mediawiki');
        break;
    default:
        array_push($args, '--dbtype', 'mysql', '--dbserver', !empty($db['socket']) ? 'localhost:' . $db['socket']
            : ($db['host'] ?? '127.0.0.1') . ':' . (int)($db['port'] ?? 3306));
}
$sitename = getenv('MW_SITENAME') ?: 'MediaWiki';
$argv = array_merge([PHP_BINARY, __DIR__ . '/../maintenance/install.php'], $args, [$sitename, 'Admin']);
// The installer refuses to run where a LocalSettings.php exists (it takes
// it for an installed wiki): point it at the not yet written one.
$env = getenv();
$env['MW_CONFIG_FILE'] = "$tmp/LocalSettings.php";
$proc = proc_open($argv, [0 => ['file', '/dev/null', 'r'], 1 => STDERR, 2 => STDERR], $pipes, dirname(__DIR__), $env);
$rc = is_resource($proc) ? proc_close($proc) : 1;
$clean();
if ($rc !== 0) {
    fwrite(STDERR, "MediaWiki's installer failed ($rc)\n");
    exit(1);
}
