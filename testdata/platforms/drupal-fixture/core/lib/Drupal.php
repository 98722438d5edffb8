<?php
// Fixture: the one line aegir reads from Drupal core.
class Drupal {
  const VERSION = '10.2.3';
}
