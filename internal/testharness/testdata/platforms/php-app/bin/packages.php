<?php
// packages hook: prints the platform's packages as a JSON array of
// {"name","type","title","release"} objects on stdout.
declare(strict_types=1);

echo json_encode([
    ['name' => 'php-app', 'type' => 'platform', 'title' => 'aegir PHP test application', 'release' => '1.0.0'],
    ['name' => 'hits', 'type' => 'module', 'title' => 'Hit counter', 'release' => '1.0.0'],
]), "\n";
