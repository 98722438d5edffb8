<?php
// Front controller: records one hit per request in the site's database and
// prints the count. Plain text so tests can parse it.
declare(strict_types=1);
require __DIR__ . '/../lib/db.php';

header('Content-Type: text/plain; charset=utf-8');
try {
    $pdo = aegir_db();
    $path = (string)($_SERVER['REQUEST_URI'] ?? '/');
    aegir_add_hit($pdo, $path);
    $n = aegir_count_hits($pdo);
    $st = $pdo->prepare('SELECT COUNT(*) FROM hits WHERE path = ?');
    $st->execute([substr($path, 0, 255)]);
    echo "php-app site " . basename(aegir_site_dir()) . "\n";
    echo "hits: $n\n";
    echo "path hits: " . (int)$st->fetchColumn() . "\n";
    echo "greeting: " . (string)($_SERVER['APP_GREETING'] ?? '') . "\n";
} catch (Throwable $e) {
    http_response_code(500);
    echo "php-app error: " . $e->getMessage() . "\n";
}
