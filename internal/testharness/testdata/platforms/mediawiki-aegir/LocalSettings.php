<?php
/*
 * MediaWiki configuration for aegir: one platform, many wikis. Each site's
 * database connection is the JSON file aegir writes into its site
 * directory (sites/<domain>/settings.json); its path arrives as
 * AEGIR_SETTINGS, a FastCGI param for web requests and an environment
 * variable for aegir's hooks and maintenance scripts.
 */
if (!defined('MEDIAWIKI')) {
    exit;
}
$aegirSettingsFile = $_SERVER['AEGIR_SETTINGS'] ?? getenv('AEGIR_SETTINGS');
$aegirDomain = $_SERVER['AEGIR_SITE_DOMAIN'] ?? getenv('AEGIR_SITE_DOMAIN');
if (!is_string($aegirSettingsFile) || $aegirSettingsFile === '' || !is_string($aegirDomain) || $aegirDomain === '') {
    header('HTTP/1.0 503 Service Unavailable');
    exit("This MediaWiki is served by aegir: AEGIR_SETTINGS and AEGIR_SITE_DOMAIN are not set.\n");
}
$aegirRaw = @file_get_contents($aegirSettingsFile);
$aegirDB = is_string($aegirRaw) ? json_decode($aegirRaw, true) : null;
if (!is_array($aegirDB)) {
    header('HTTP/1.0 503 Service Unavailable');
    exit("The site's settings are not readable.\n");
}
$aegirSiteDir = dirname($aegirSettingsFile);

switch ($aegirDB['driver'] ?? '') {
    case 'pgsql':
    case 'postgres':
    case 'postgresql':
        $wgDBtype = 'postgres';
        $wgDBserver = (string)(($aegirDB['socket'] ?? '') ?: ($aegirDB['host'] ?? '127.0.0.1'));
        $wgDBport = (int)($aegirDB['port'] ?? 5432);
        $wgDBmwschema = 'mediawiki';
        break;
    default:
        $wgDBtype = 'mysql';
        $wgDBserver = !empty($aegirDB['socket']) ? 'localhost:' . $aegirDB['socket']
            : ($aegirDB['host'] ?? '127.0.0.1') . ':' . (int)($aegirDB['port'] ?? 3306);
        $wgDBTableOptions = 'ENGINE=InnoDB, DEFAULT CHARSET=binary';
}
$wgDBname = (string)($aegirDB['name'] ?? '');
$wgDBuser = (string)($aegirDB['user'] ?? '');
$wgDBpassword = (string)($aegirDB['password'] ?? '');
$wgDBprefix = '';

$wgSitename = (string)($_SERVER['MW_SITENAME'] ?? getenv('MW_SITENAME') ?: 'MediaWiki');
$wgMetaNamespace = 'Project';
// The site's address is its domain: a clone or a migrated wiki answers
// under its new name.
$wgServer = 'http://' . $aegirDomain;
$wgScriptPath = '';
$wgResourceBasePath = $wgScriptPath;
$wgLanguageCode = 'en';

// Per-site keys derived from the database password.
$wgSecretKey = hash('sha256', 'secret' . $wgDBpassword);
$wgUpgradeKey = substr(hash('sha256', 'upgrade' . $wgDBpassword), 0, 16);

// Nothing of a site in the platform: no uploads, caches in the database.
$wgEnableUploads = false;
$wgUploadDirectory = $aegirSiteDir . '/files';
$wgCacheDirectory = false;
$wgMainCacheType = CACHE_NONE;
$wgTmpDirectory = sys_get_temp_dir();
$wgEnableEmail = false;
$wgJobRunRate = 0; // jobs run from aegir's cron hook

wfLoadSkin('Vector');
$wgDefaultSkin = 'vector';
