<?php
// Drupal 7-shaped fixture for aegir's tests: not Drupal. It has the files
// aegir looks at to recognise a Drupal 7 platform, and the functions
// aegir's own installer calls, recording what they were given.
echo "drupal7-fixture\n";
