<?php
// Fixture: the few methods of Composer's ClassLoader the fixture uses.
namespace Composer\Autoload;

class ClassLoader {
  private $psr4 = [];
  private $classMap = [];

  public function addPsr4($prefix, $dir) {
    $this->psr4[$prefix] = $dir;
  }

  public function addClassMap(array $map) {
    $this->classMap = $map + $this->classMap;
  }

  public function register() {
    spl_autoload_register([$this, 'loadClass']);
  }

  public function loadClass($class) {
    if (isset($this->classMap[$class])) {
      require_once $this->classMap[$class];
      return TRUE;
    }
    foreach ($this->psr4 as $prefix => $dir) {
      if (strncmp($class, $prefix, strlen($prefix)) === 0) {
        $file = $dir . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        if (is_file($file)) {
          require_once $file;
          return TRUE;
        }
      }
    }
    return FALSE;
  }
}
