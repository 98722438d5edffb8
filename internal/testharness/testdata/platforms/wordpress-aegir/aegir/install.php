<?php
/*
 * aegir install hook for WordPress: run once per site, as the site's Unix
 * user, from the platform root, after aegir created the database and wrote
 * sites/<domain>/settings.json. Creates WordPress's tables and the admin
 * account with wp_install(). The admin's password is random and not kept:
 * the operator resets it with WordPress's lost-password form or a hook.
 *
 * Environment (aegir's): AEGIR_SITE_DOMAIN, AEGIR_SETTINGS; optional
 * WP_TITLE (the manifest's env) for the blog's title.
 */
if (PHP_SAPI !== 'cli') {
    exit(1);
}
$domain = getenv('AEGIR_SITE_DOMAIN');
if (!is_string($domain) || $domain === '') {
    fwrite(STDERR, "AEGIR_SITE_DOMAIN is not set: run through aegir\n");
    exit(1);
}
$_SERVER['HTTP_HOST'] = $domain;
$_SERVER['SERVER_NAME'] = $domain;
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require_once __DIR__ . '/../wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (is_blog_installed()) {
    fwrite(STDERR, "WordPress is already installed in " . DB_NAME . "\n");
    exit(0);
}
$title = getenv('WP_TITLE');
if (!is_string($title) || $title === '') {
    $title = $domain;
}
$result = wp_install($title, 'admin', 'admin@' . $domain, false, '', wp_generate_password(24));
if (!is_array($result) || empty($result['user_id'])) {
    fwrite(STDERR, "wp_install failed\n");
    exit(1);
}
fwrite(STDERR, "WordPress installed for $domain (admin user " . $result['user_id'] . ")\n");
