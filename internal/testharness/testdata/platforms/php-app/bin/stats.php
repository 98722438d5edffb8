<?php
// stats hook: prints one JSON object of counts on stdout.
declare(strict_types=1);
require __DIR__ . '/../lib/db.php';

try {
    $pdo = aegir_db();
    $cron = (int)$pdo->query("SELECT COUNT(*) FROM hits WHERE path = 'cron'")->fetchColumn();
    echo json_encode(['hits' => aegir_count_hits($pdo), 'cron_runs' => $cron]), "\n";
} catch (Throwable $e) {
    fwrite(STDERR, "php-app stats failed: " . $e->getMessage() . "\n");
    exit(1);
}
