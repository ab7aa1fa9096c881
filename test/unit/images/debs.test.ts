import { describe, expect, it } from 'vitest';
import { debFileName, parseAptShow } from '../../../src/images/debs.js';

describe('apt answers', () => {
  it('parses one candidate stanza per package', () => {
    const text = `Package: busybox-static
Version: 1:1.35.0-4+deb12u1+b1
Architecture: amd64
Filename: pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb

Package: linux-image-cloud-amd64
Source: linux-signed-amd64 (6.1.192-2)
Version: 6.1.192-2
Architecture: amd64
Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
`;
    const m = parseAptShow(text);
    expect(m.get('busybox-static')).toEqual({ pkg: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1', arch: 'amd64', depends: '' });
    expect(m.get('linux-image-cloud-amd64')?.depends).toBe('linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)');
  });

  it('names files the way apt-get download does (epoch colon escaped)', () => {
    expect(debFileName('busybox-static', '1:1.35.0-4+deb12u1+b1', 'amd64')).toBe('busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb');
    expect(debFileName('zstd', '1.5.4+dfsg2-5', 'amd64')).toBe('zstd_1.5.4+dfsg2-5_amd64.deb');
  });
});
