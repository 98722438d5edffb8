<?php
// Fixture: the line aegir reads from Drupal core (VERSION), and the
// static service locator aegir's cron runner calls.
class Drupal {
  const VERSION = '10.2.3';

  protected static $container;

  public static function setContainer($container) {
    static::$container = $container;
  }

  public static function service($id) {
    if (!static::$container) {
      throw new \RuntimeException('Drupal::service() called before the kernel booted');
    }
    return static::$container->get($id);
  }
}
