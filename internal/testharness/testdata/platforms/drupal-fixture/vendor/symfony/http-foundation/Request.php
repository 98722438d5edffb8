<?php
// Fixture: the part of Symfony's Request the fixture's kernel reads.
namespace Symfony\Component\HttpFoundation;

class Request {
  public $server;

  public function __construct(array $server = []) {
    $this->server = $server;
  }

  public static function create($uri, $method = 'GET', $parameters = [], $cookies = [], $files = [], $server = [], $content = NULL) {
    $parts = parse_url($uri);
    if (isset($parts['host'])) {
      $server['HTTP_HOST'] = $parts['host'];
      $server['SERVER_NAME'] = $parts['host'];
    }
    $server['REQUEST_METHOD'] = strtoupper($method);
    $server['REQUEST_URI'] = $parts['path'] ?? '/';
    return new static($server);
  }

  public function getHost() {
    return strtolower($this->server['HTTP_HOST'] ?? '');
  }
}
