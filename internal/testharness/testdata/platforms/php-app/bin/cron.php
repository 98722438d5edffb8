<?php
// cron hook: records one row per run.
declare(strict_types=1);
require __DIR__ . '/../lib/db.php';

try {
    aegir_add_hit(aegir_db(), 'cron');
} catch (Throwable $e) {
    fwrite(STDERR, "php-app cron failed: " . $e->getMessage() . "\n");
    exit(1);
}
