<?php
// Fixture: the part of Drupal's kernel aegir's cron runner calls. Like
// core, it finds the site's directory by the request's host (a directory
// sites/<host> with a settings.php, else sites/default) and reads its
// settings.php.
namespace Drupal\Core;

use Symfony\Component\HttpFoundation\Request;

class DrupalKernel {
  protected $sitePath;
  protected $environment;
  protected $container;
  protected $booted = FALSE;

  public static function createFromRequest(Request $request, $class_loader, $environment, $allow_dumping = TRUE, $app_root = NULL) {
    if (!is_object($class_loader)) {
      throw new \InvalidArgumentException('DrupalKernel needs the class loader');
    }
    $kernel = new static();
    $kernel->environment = $environment;
    $kernel->sitePath = static::findSitePath($request);
    return $kernel;
  }

  public static function findSitePath(Request $request) {
    $host = $request->getHost();
    if ($host !== '' && is_file('sites/' . $host . '/settings.php')) {
      return 'sites/' . $host;
    }
    return 'sites/default';
  }

  public function getSitePath() {
    return $this->sitePath;
  }

  public function boot() {
    $databases = [];
    $settings = [];
    if (is_file($this->sitePath . '/settings.php')) {
      include $this->sitePath . '/settings.php';
    }
    $this->container = new FixtureContainer(['cron' => new Cron($this->sitePath, $databases['default']['default'] ?? [], $this->environment)]);
    \Drupal::setContainer($this->container);
    $this->booted = TRUE;
    return $this;
  }

  public function preHandle(Request $request) {
    if (!$this->booted) {
      throw new \LogicException('preHandle() before boot()');
    }
    $this->container->request = $request;
  }
}

class FixtureContainer {
  public $request;
  private $services;

  public function __construct(array $services) {
    $this->services = $services;
  }

  public function get($id) {
    if (!isset($this->services[$id])) {
      throw new \RuntimeException('no service ' . $id);
    }
    return $this->services[$id];
  }
}
