<?php
/*
 * WordPress configuration for aegir: one platform, many sites. Each site's
 * database connection is the JSON file aegir writes into its site
 * directory (sites/<domain>/settings.json); its path arrives as
 * AEGIR_SETTINGS, a FastCGI param for web requests and an environment
 * variable for aegir's hooks (install, cron).
 */
$aegir_settings_file = $_SERVER['AEGIR_SETTINGS'] ?? getenv('AEGIR_SETTINGS');
$aegir_domain = $_SERVER['AEGIR_SITE_DOMAIN'] ?? getenv('AEGIR_SITE_DOMAIN');
if (!is_string($aegir_settings_file) || $aegir_settings_file === '' || !is_string($aegir_domain) || $aegir_domain === '') {
    header('HTTP/1.0 503 Service Unavailable');
    exit("This WordPress is served by aegir: AEGIR_SETTINGS and AEGIR_SITE_DOMAIN are not set.\n");
}
$aegir_raw = @file_get_contents($aegir_settings_file);
$aegir_db = is_string($aegir_raw) ? json_decode($aegir_raw, true) : null;
if (!is_array($aegir_db)) {
    header('HTTP/1.0 503 Service Unavailable');
    exit("The site's settings are not readable.\n");
}

define('DB_NAME', (string)($aegir_db['name'] ?? ''));
define('DB_USER', (string)($aegir_db['user'] ?? ''));
define('DB_PASSWORD', (string)($aegir_db['password'] ?? ''));
if (!empty($aegir_db['socket'])) {
    define('DB_HOST', 'localhost:' . $aegir_db['socket']);
} else {
    define('DB_HOST', ($aegir_db['host'] ?? '127.0.0.1') . ':' . (int)($aegir_db['port'] ?? 3306));
}
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';

// The site's address is its domain: a clone or a migrated site answers
// under its new name without rewriting the options table.
define('WP_HOME', 'http://' . $aegir_domain);
define('WP_SITEURL', 'http://' . $aegir_domain);

// Keys derived from the database password: per site, stable across
// restore, new for a clone (whose password differs).
foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'] as $k) {
    define($k, hash('sha256', $k . DB_PASSWORD));
}

// Updates come from the platform (a new Debian package, a new platform),
// cron from aegir's cron queue; no outgoing HTTP from page loads.
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('DISALLOW_FILE_MODS', true);
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);

// Uploads go to the site's own files directory, never to the platform.
define('UPLOADS', 'sites/' . $aegir_domain . '/files');

if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
