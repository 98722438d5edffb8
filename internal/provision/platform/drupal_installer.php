<?php
// aegir's own Drupal installer and cron runner, for platforms without
// drush. aegir runs it as `php -r <this file without its first line and
// comments> -- <JSON>` in the platform's root (drupal_installer.go).
//
// The JSON holds no secret and is data, never code: mode ("install" or
// "cron"), root, domain, d7, and for install profile, langcode,
// site_name, site_mail, account_name, account_mail. The database comes
// from aegir's AEGIR_DB_* environment. The account's password is random
// and never printed.
//
// It calls Drupal's own API the way drush's site:install and cron do:
// install_drupal() with the installer's parameters and form values, and
// for cron drupal_bootstrap(DRUPAL_BOOTSTRAP_FULL) + drupal_cron_run()
// (7) or DrupalKernel::createFromRequest + the cron service (8+).

// Closures, not functions: a named function could collide with a module's
// (or, for a module called aegir, be taken for one of its hooks).
$aegir_fail = static function (string $msg) {
  fwrite(STDERR, "aegir drupal installer: " . $msg . "\n");
  exit(1);
};

$aegir_database = static function () use ($aegir_fail): array {
  $kind = getenv('AEGIR_DB_DRIVER');
  $drivers = ['mariadb' => 'mysql', 'postgresql' => 'pgsql', 'sqlite' => 'sqlite'];
  if (!isset($drivers[$kind])) {
    $aegir_fail('no database for Drupal in AEGIR_DB_DRIVER (' . var_export($kind, TRUE) . ')');
  }
  $driver = $drivers[$kind];
  if ($driver === 'sqlite') {
    return [$driver, ['database' => (string) getenv('AEGIR_DB_PATH'), 'prefix' => '']];
  }
  $db = [
    'database' => (string) getenv('AEGIR_DB_NAME'),
    'username' => (string) getenv('AEGIR_DB_USER'),
    'password' => (string) getenv('AEGIR_DB_PASSWORD'),
    'host' => (string) getenv('AEGIR_DB_HOST'),
    'port' => (string) (getenv('AEGIR_DB_PORT') ?: ($driver === 'mysql' ? '3306' : '5432')),
    'prefix' => '',
  ];
  if ((string) getenv('AEGIR_DB_SOCKET') !== '') {
    $db['unix_socket'] = (string) getenv('AEGIR_DB_SOCKET');
  }
  return [$driver, $db];
};

$in = json_decode($argv[1] ?? '', TRUE);
if (!is_array($in)) {
  $aegir_fail('expected the settings as JSON in the first argument');
}
foreach (['mode', 'root', 'domain', 'd7'] as $key) {
  if (!isset($in[$key])) {
    $aegir_fail('missing setting ' . $key);
  }
}
$root = (string) $in['root'];
if (!@chdir($root)) {
  $aegir_fail('cannot enter the platform ' . $root);
}
// Drupal finds the site's directory, sites/<domain>, by the request's host.
$server = [
  'HTTP_HOST' => $in['domain'],
  'SERVER_NAME' => $in['domain'],
  'SERVER_PORT' => '80',
  'REQUEST_URI' => '/',
  'REQUEST_METHOD' => 'GET',
  'SCRIPT_NAME' => '/index.php',
  'PHP_SELF' => '/index.php',
  'SCRIPT_FILENAME' => $root . '/index.php',
  'REMOTE_ADDR' => '127.0.0.1',
  'SERVER_SOFTWARE' => 'aegir',
];
$_SERVER = $server + $_SERVER;

if ($in['mode'] === 'install') {
  foreach (['profile', 'langcode', 'site_name', 'site_mail', 'account_name', 'account_mail'] as $key) {
    if (!isset($in[$key]) || !is_string($in[$key]) || $in[$key] === '') {
      $aegir_fail('missing install setting ' . $key);
    }
  }
  [$driver, $db] = $aegir_database();
  $pass = bin2hex(random_bytes(16));
  $account = ['name' => $in['account_name'], 'mail' => $in['account_mail'], 'pass' => ['pass1' => $pass, 'pass2' => $pass]];
  $forms = [
    'install_settings_form' => ['driver' => $driver, $driver => $db, 'op' => 'Save and continue'],
    'install_configure_form' => [
      'site_name' => $in['site_name'],
      'site_mail' => $in['site_mail'],
      'account' => $account,
      'op' => 'Save and continue',
    ],
  ];
  if ($in['d7']) {
    define('DRUPAL_ROOT', $root);
    define('MAINTENANCE_MODE', 'install');
    $forms['install_configure_form'] += ['update_status_module' => [1 => TRUE, 2 => TRUE], 'clean_url' => TRUE];
    require_once DRUPAL_ROOT . '/includes/install.core.inc';
    install_drupal([
      'interactive' => FALSE,
      'server' => $server,
      'parameters' => ['profile' => $in['profile'], 'locale' => $in['langcode']],
      'forms' => $forms,
    ]);
  }
  else {
    $forms['install_configure_form'] += ['enable_update_status_module' => TRUE, 'enable_update_status_emails' => TRUE];
    $class_loader = require $root . '/autoload.php';
    require_once $root . '/core/includes/install.core.inc';
    install_drupal($class_loader, [
      'interactive' => FALSE,
      'server' => $server,
      'parameters' => ['profile' => $in['profile'], 'langcode' => $in['langcode']],
      'forms' => $forms,
    ]);
  }
  echo 'installed ', $in['domain'], ' with the ', $in['profile'], ' profile; the account ', $in['account_name'],
    ' has a random password that is not shown: ask for a new one at /user/password', "\n";
  exit(0);
}

if ($in['mode'] === 'cron') {
  if ($in['d7']) {
    define('DRUPAL_ROOT', $root);
    require_once DRUPAL_ROOT . '/includes/bootstrap.inc';
    drupal_bootstrap(DRUPAL_BOOTSTRAP_FULL);
    if (!drupal_cron_run()) {
      $aegir_fail('cron did not run: another run holds its lock, or a cron hook failed (see the site\'s log)');
    }
  }
  else {
    $class_loader = require $root . '/autoload.php';
    $request = \Symfony\Component\HttpFoundation\Request::create('http://' . $in['domain'] . '/', 'GET', [], [], [], $server);
    $kernel = \Drupal\Core\DrupalKernel::createFromRequest($request, $class_loader, 'prod');
    $kernel->boot();
    $kernel->preHandle($request);
    if (!\Drupal::service('cron')->run()) {
      $aegir_fail('cron did not run: another run holds its lock (see the site\'s log)');
    }
  }
  echo 'cron of ', $in['domain'], " ran\n";
  exit(0);
}

$aegir_fail('unknown mode ' . var_export($in['mode'], TRUE));
