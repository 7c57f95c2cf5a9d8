/**
 * The OpenAPI schemas of `documents` in /v1/read (the ID-document pipeline), with an example: the
 * ICAO 9303 TD1 specimen (Utopia, ERIKSSON ANNA MARIA), no real person.
 */

const nullableString = (description: string, extra: object = {}) => ({ type: 'string', nullable: true, description, ...extra });
const isoDate = (description: string) => nullableString(`${description}: ISO 8601 (YYYY-MM-DD; YYYY-MM or YYYY when the MRZ leaves the day or month unknown)`, { pattern: '^\\d{4}(-\\d{2}(-\\d{2})?)?$' });

const fieldNames = ['documentNumber', 'surname', 'givenNames', 'nationality', 'birthDate', 'sex', 'expiryDate', 'issuingState'];

const fields = {
  type: 'object',
  required: fieldNames,
  additionalProperties: false,
  description:
    'The holder\'s data: from the MRZ when all its check digits prove the read, else from the visual zone (and the MRZ\'s number and dates whose own check digit holds). ' +
    'Names are written as the MRZ writes them (ICAO 9303 transliteration: A-Z, words separated by spaces); null: not read.',
  properties: {
    documentNumber: nullableString('document number'),
    surname: nullableString('primary identifier (surname)'),
    givenNames: nullableString('secondary identifier (given names)'),
    nationality: nullableString('ICAO code of the nationality (three letters; D is Germany)'),
    birthDate: isoDate('date of birth'),
    sex: { type: 'string', nullable: true, enum: ['M', 'F', 'X', null], description: 'M, F or X (unspecified)' },
    expiryDate: isoDate('date of expiry'),
    issuingState: nullableString('ICAO code of the issuing state or organisation'),
  },
};

const checks = {
  type: 'object',
  required: ['documentNumber', 'birthDate', 'expiryDate', 'optional', 'composite'],
  additionalProperties: false,
  description: 'Whether each check digit of the MRZ is right',
  properties: {
    documentNumber: { type: 'boolean' },
    birthDate: { type: 'boolean' },
    expiryDate: { type: 'boolean' },
    optional: { type: 'boolean', nullable: true, description: 'TD3: the personal number\'s check digit; null for TD1 and TD2, which have none' },
    composite: { type: 'boolean' },
  },
};

export const documentSchemas = {
  Document: {
    type: 'object',
    required: ['type', 'score', 'box', 'corners', 'fields', 'sources', 'mrz', 'viz', 'mismatches'],
    additionalProperties: false,
    properties: {
      type: { type: 'string', enum: ['TD1', 'TD2', 'TD3'], description: 'ICAO 9303 size: TD1 card (3 MRZ lines of 30), TD2 (2 x 36), TD3 passport (2 x 44)' },
      score: { type: 'number', minimum: 0, maximum: 1, description: 'detector score of the document' },
      box: { $ref: '#/components/schemas/Box' },
      corners: {
        type: 'array', minItems: 4, maxItems: 4, description: 'top-left, top-right, bottom-right, bottom-left of the document (its own upright frame), image pixels',
        items: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'number' } },
      },
      fields,
      sources: {
        type: 'object', additionalProperties: false, required: fieldNames, description: 'where each field came from',
        properties: Object.fromEntries(fieldNames.map((k) => [k, { type: 'string', nullable: true, enum: ['mrz', 'viz', null] }])),
      },
      mrz: {
        type: 'object',
        nullable: true,
        required: ['lines', 'valid', 'checks', 'corrected', 'namesFromVisualZone'],
        additionalProperties: false,
        description: 'The machine-readable zone as read (after correction); null when no MRZ line was found',
        properties: {
          lines: { type: 'array', items: { type: 'string' } },
          valid: { type: 'boolean', description: 'every check digit and the composite are right, every character is of its position\'s kind, the document code is of its type, the issuing state and nationality are state codes, optional data starts at its first position, and the dates are dates with the expiry at most 20 years ahead and not before the birth date' },
          checks: { ...checks, nullable: true, description: 'null when the lines have no MRZ shape (a line missed)' },
          corrected: { type: 'integer', minimum: 0, description: 'characters the check-digit correction changed from the recognizer\'s first choice (confusable glyphs such as O/0, B/8)' },
          namesFromVisualZone: {
            type: 'integer', minimum: 0,
            description: 'letters of the names (which no check digit covers) taken from the visual zone\'s read, where the MRZ reader offered the same letter as its alternative; 0 without a field reader',
          },
        },
      },
      viz: {
        type: 'object', additionalProperties: false, description: 'the visual inspection zone\'s texts as read, by field (with their diacritics)',
        properties: Object.fromEntries(fieldNames.map((k) => [k, { type: 'string' }])),
      },
      mismatches: {
        type: 'array',
        description: 'fields where a valid MRZ and the visual zone disagree (a misread, or a tampered document)',
        items: {
          type: 'object', required: ['field', 'mrz', 'viz'], additionalProperties: false,
          properties: { field: { type: 'string', enum: fieldNames }, mrz: { type: 'string' }, viz: { type: 'string' } },
        },
      },
    },
  },
};

export const documentExample = {
  type: 'TD1',
  score: 0.93,
  box: { x1: 212.4, y1: 160.9, x2: 1158.2, y2: 790.3 },
  corners: [[236.1, 171.5], [1150.7, 205.8], [1131.2, 782.4], [219.6, 747.0]],
  fields: {
    documentNumber: 'D23145890', surname: 'ERIKSSON', givenNames: 'ANNA MARIA', nationality: 'UTO', birthDate: '1974-08-12', sex: 'F',
    expiryDate: '2012-04-15', issuingState: 'UTO',
  },
  sources: { documentNumber: 'mrz', surname: 'mrz', givenNames: 'mrz', nationality: 'mrz', birthDate: 'mrz', sex: 'mrz', expiryDate: 'mrz', issuingState: 'mrz' },
  mrz: {
    lines: ['I<UTOD231458907<<<<<<<<<<<<<<<', '7408122F1204159UTO<<<<<<<<<<<6', 'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'],
    valid: true,
    checks: { documentNumber: true, birthDate: true, expiryDate: true, optional: null, composite: true },
    corrected: 1,
    namesFromVisualZone: 0,
  },
  viz: { documentNumber: 'D23145890', surname: 'ERIKSSON', givenNames: 'ANNA MARIA', nationality: 'UTOPIAN', birthDate: '12 AUG 1974', sex: 'F', expiryDate: '15 APR 2012' },
  mismatches: [],
};
