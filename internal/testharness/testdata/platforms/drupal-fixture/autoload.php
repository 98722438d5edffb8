<?php
// Fixture: like Drupal's, returns Composer's class loader.
return require __DIR__ . '/vendor/autoload.php';
