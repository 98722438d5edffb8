<?php
// Fixture: Drupal ships this file; aegir never reads it.
