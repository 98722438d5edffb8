<?php
// install hook: creates the hits table in the site's database.
declare(strict_types=1);
require __DIR__ . '/../lib/db.php';

try {
    $pdo = aegir_db();
    aegir_create_schema($pdo);
    fwrite(STDERR, "php-app: schema ready\n");
} catch (Throwable $e) {
    fwrite(STDERR, "php-app install failed: " . $e->getMessage() . "\n");
    exit(1);
}
