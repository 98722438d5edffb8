<?php
// Front controller: records one hit per request in the site's database and
// prints the count. Plain text so tests can parse it.
declare(strict_types=1);
require __DIR__ . '/../lib/db.php';

header('Content-Type: text/plain; charset=utf-8');
try {
    $pdo = aegir_db();
    aegir_add_hit($pdo, (string)($_SERVER['REQUEST_URI'] ?? '/'));
    $n = aegir_count_hits($pdo);
    echo "php-app site " . basename(aegir_site_dir()) . "\n";
    echo "hits: $n\n";
} catch (Throwable $e) {
    http_response_code(500);
    echo "php-app error: " . $e->getMessage() . "\n";
}
