<?php
// Drupal-shaped fixture for aegir's tests: not Drupal. It only has the files
// aegir looks at to recognise a Drupal platform and scan its packages.
echo "drupal-fixture\n";
