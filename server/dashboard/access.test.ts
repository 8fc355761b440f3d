import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DashboardAccess, isLoopbackAddress, presentedToken } from './access.ts';

const TOKEN = 'dashboard-token-0123456789';

describe('isLoopbackAddress', () => {
  it('accepts all of 127.0.0.0/8 (plain and IPv4-mapped) and ::1', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.nat(255), fc.nat(255), fc.boolean(), (a, b, c, mapped) => {
        const v4 = `127.${a}.${b}.${c}`;
        expect(isLoopbackAddress(mapped ? `::ffff:${v4}` : v4)).toBe(true);
      }),
    );
    expect(isLoopbackAddress('::1')).toBe(true);
  });

  it('refuses every other IPv4 address, IPv6 addresses and missing ones', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }).filter((a) => a !== 127),
        fc.nat(255),
        (a, b) => {
          expect(isLoopbackAddress(`${a}.0.0.${b}`)).toBe(false);
          expect(isLoopbackAddress(`::ffff:${a}.0.0.${b}`)).toBe(false);
        },
      ),
    );
    for (const address of [
      undefined,
      '',
      '::',
      '::2',
      'fe80::1',
      '10.127.0.1',
      '127.0.0.1.evil',
      '1127.0.0.1',
    ]) {
      expect(isLoopbackAddress(address), String(address)).toBe(false);
    }
  });
});

describe('presentedToken', () => {
  it('reads ?token=, the dashboard header, then a bearer token', () => {
    expect(presentedToken({}, new URLSearchParams('token=a'))).toBe('a');
    expect(presentedToken({ 'x-fedpeft-dashboard-token': 'b' }, null)).toBe('b');
    expect(presentedToken({ authorization: 'Bearer c' }, new URLSearchParams(''))).toBe('c');
    expect(presentedToken({ authorization: 'Basic c' }, null)).toBeUndefined();
    expect(presentedToken({}, null)).toBeUndefined();
  });
});

describe('DashboardAccess', () => {
  it('lets loopback in without a token only when the config allows it', () => {
    const open = new DashboardAccess({ allowLoopbackWithoutToken: true, token: TOKEN });
    expect(open.decide('127.0.0.1', undefined)).toEqual({ ok: true, via: 'loopback' });
    const strict = new DashboardAccess({ allowLoopbackWithoutToken: false, token: TOKEN });
    const refused = strict.decide('127.0.0.1', undefined);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.reason).toMatch(/needs its token/);
    expect(strict.decide('::1', TOKEN)).toEqual({ ok: true, via: 'token' });
  });

  it('outside loopback: only the exact token gets in, and with no token configured nobody does', () => {
    const access = new DashboardAccess({ allowLoopbackWithoutToken: true, token: TOKEN });
    expect(access.decide('192.0.2.7', TOKEN)).toEqual({ ok: true, via: 'token' });
    expect(access.decide('192.0.2.7', undefined).ok).toBe(false);
    fc.assert(
      fc.property(
        fc.string().filter((t) => t !== TOKEN),
        (wrong) => {
          const d = access.decide('192.0.2.7', wrong);
          expect(d.ok).toBe(false);
          expect(!d.ok && d.reason).toMatch(/does not match/);
        },
      ),
    );
    const none = new DashboardAccess({ allowLoopbackWithoutToken: true, token: undefined });
    const d = none.decide('192.0.2.7', 'anything-at-all-0123');
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toMatch(/set dashboard\.token/);
  });
});
