import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import type { Input, Location, Paranoia } from '../types.js';
import { genericDetector } from './generic.js';

function attack(value: string, location: Location = 'query', name = 'x', paranoia: Paranoia = 2): boolean {
  const inputs: Input[] = [{ location, name, value }];
  return inspect(inputs, { paranoia, threshold: 5, exclusions: [], detectors: [genericDetector] }).attack;
}

describe('Node.js injection', () => {
  it('flags serialization markers, loader internals and eval-ish expressions', () => {
    for (const v of [
      '{"rce":"_$$ND_FUNC$$_function(){require(\'child_process\').exec(\'id\')}()"}',
      '__js_function',
      'X18kJE5EX0ZVTkMkJF9mdW5jdGlvbigpe30=', // base64 of a serialization marker
      "require('child_process').execSync('id')",
      'global.process.mainModule.require("fs")',
      '#{process.binding("spawn_sync")}',
      '[].constructor.constructor("return this")()',
      'process["env"]',
      'process.env.SECRET_KEY',
      'eval(atob("YWxlcnQoMSk="))',
      'new Function ("return 1")',
      'String.fromCharCode(97,98)',
      'console.log(document.cookie)',
      'console["warn"](1)',
      'module.exports = {}',
      'while(true){}',
      'while (!0);',
      'for(;;){}',
      '{"then":"$1:__proto__:then","_response":"$2:constructor:constructor"}',
    ])
      assert.equal(attack(v), true, v);
  });

  it('leaves ordinary words and code samples in documents alone', () => {
    for (const v of [
      'process.',
      'console.',
      'The build process environment is documented in the README file of the project.',
      "const fs = require('fs');\nconst data = fs.readFileSync(path);\nconsole.log(data);",
      'while (foo) is bar.',
      'while(!true);',
      'while (0 replies) we waited.',
      'a while (0) later.',
      'while () {',
      'Required: yes',
      'function',
      'user.name@example.com',
    ])
      assert.equal(attack(v), false, v);
  });
});

describe('Perl, Ruby and Python', () => {
  it('flags interpolation and process calls', () => {
    for (const v of [
      "@{[system 'id']}",
      '@{ [ `whoami` ] }',
      '@@{[CORE::time()]}',
      'Process.spawn("id")',
      'Kernel.system "ls"',
      'IO.popen("id").read',
      '%x(id)',
      "''.__class__.__mro__[1].__subclasses__()",
      '__import__("os")',
    ])
      assert.equal(attack(v), true, v);
  });

  it('leaves e-mail addresses, hashes and Python code samples alone', () => {
    for (const v of [
      'user@example.com',
      '$hash{key}=[1,2,3]',
      '{"array":[1,2,3]}',
      'pickle.loads(blob)  # trusted source only',
      'def __init__(self):\n    self.value = 1',
      '50%x discount',
    ])
      assert.equal(attack(v), false, v);
  });
});

describe('Django ORM lookups', () => {
  it('flags relation walks from parameter names at PL2 and single lookups at PL3', () => {
    assert.equal(attack('user__profile__icontains', 'query-name', 'user__profile__icontains'), true);
    assert.equal(
      attack(
        'created_by__departments__employees__user__username__startswith',
        'json-key',
        'created_by__departments__employees__user__username__startswith',
      ),
      true,
    );
    assert.equal(attack('username__startswith', 'query-name', 'username__startswith'), false);
    assert.equal(attack('username__startswith', 'query-name', 'username__startswith', 3), true);
    assert.equal(attack('{"user__profile__city__startswith":"p"}', 'body', ''), true);
  });

  it('leaves dunder-free and non-lookup names alone', () => {
    assert.equal(attack('page_size', 'query-name', 'page_size'), false);
    assert.equal(attack('__typename', 'query-name', '__typename', 3), false);
    assert.equal(attack('a__b__c', 'query-name', 'a__b__c', 3), false);
    assert.equal(attack('use field__startswith for filtering', 'json', '$.comment'), false);
  });
});
