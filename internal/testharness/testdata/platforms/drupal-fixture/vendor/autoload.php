<?php
// Fixture: a stand-in for Composer's generated autoloader.
require_once __DIR__ . '/composer/ClassLoader.php';
$loader = new \Composer\Autoload\ClassLoader();
$loader->addPsr4('Drupal\\Core\\', dirname(__DIR__) . '/core/lib/Drupal/Core');
$loader->addPsr4('Symfony\\Component\\HttpFoundation\\', __DIR__ . '/symfony/http-foundation');
$loader->addClassMap(['Drupal' => dirname(__DIR__) . '/core/lib/Drupal.php']);
$loader->register();
return $loader;
