<?php
// Lifecycle hook (post-restore, post-clone, post-migrate, verify,
// pre-delete): appends "<hook> <domain> <APP_GREETING>" to the site's
// files/hooks.log, so tests see that each ran, where and with which
// environment. It fails when the platform holds a file fail-<hook>, so
// tests can make one fail.
declare(strict_types=1);

$hook = $argv[1] ?? '';
$dir = getenv('AEGIR_SITE_DIR');
$domain = getenv('AEGIR_SITE_DOMAIN');
if (!is_string($dir) || $dir === '' || !is_string($domain)) {
    fwrite(STDERR, "php-app hook: AEGIR_SITE_DIR is not set: run through aegir\n");
    exit(1);
}
if (file_exists(__DIR__ . "/../fail-$hook")) {
    fwrite(STDERR, "php-app hook $hook: told to fail by fail-$hook\n");
    exit(1);
}
$line = sprintf("%s %s %s\n", $hook, $domain, (string)getenv('APP_GREETING'));
if (@file_put_contents("$dir/files/hooks.log", $line, FILE_APPEND) === false) {
    fwrite(STDERR, "php-app hook $hook: cannot write $dir/files/hooks.log\n");
    exit(1);
}
fwrite(STDERR, "php-app hook $hook ran for $domain\n");
