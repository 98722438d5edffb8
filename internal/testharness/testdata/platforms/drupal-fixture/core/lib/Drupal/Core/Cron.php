<?php
// Fixture: the cron service. Each run appends a line to the site's
// aegir-fixture-cron.log saying where and with which database it ran.
namespace Drupal\Core;

class Cron {
  private $sitePath;
  private $database;
  private $environment;

  public function __construct($sitePath, array $database, $environment) {
    $this->sitePath = $sitePath;
    $this->database = $database;
    $this->environment = $environment;
  }

  public function run() {
    $line = json_encode(['site_path' => $this->sitePath, 'environment' => $this->environment,
      'driver' => $this->database['driver'] ?? '', 'database' => $this->database['database'] ?? '']);
    return file_put_contents($this->sitePath . '/aegir-fixture-cron.log', $line . "\n", FILE_APPEND) !== FALSE;
  }
}
